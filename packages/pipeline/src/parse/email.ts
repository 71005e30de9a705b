import MsgReaderModule from "@kenjiuno/msgreader";
import { type AddressObject, simpleParser } from "mailparser";
import { DocumentError, FailureCode } from "../domain/errors.ts";
import { extractHtml } from "./html.ts";
import type { Attachment, Extracted } from "./types.ts";

interface Message {
  from?: string;
  to?: string;
  cc?: string;
  date?: string;
  subject?: string;
  body: string;
  attachments: Attachment[];
}

/**
 * RFC 822 / MIME message: header lines (From, To, Cc, Date, Subject), a blank line, the text body (the
 * HTML body as text when there is no plain one), then a line listing the attachments, which are listed,
 * not read.
 */
export async function extractEml(bytes: Buffer): Promise<Extracted> {
  const mail = await simpleParser(bytes, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true });
  const html = typeof mail.html === "string" ? mail.html : "";
  // Without a text/plain part mailparser makes `text` from the HTML itself (upper-case headings, URLs);
  // the HTML extractor's text matches the other formats'.
  const type = mail.headers.get("content-type") as { value?: string } | undefined;
  const hasPlain =
    !type?.value ||
    /^text\/plain/i.test(type.value) ||
    /content-type:\s*text\/plain/i.test(bytes.toString("latin1"));
  const body = hasPlain ? mail.text?.trim() || "" : "";
  return toExtracted({
    from: addresses(mail.from),
    to: addresses(mail.to),
    cc: addresses(mail.cc),
    date: mail.date && !Number.isNaN(mail.date.getTime()) ? mail.date.toUTCString() : undefined,
    subject: mail.subject,
    body: body || (html ? extractHtml(html) : mail.text?.trim() || ""),
    attachments: mail.attachments.map((a) => ({
      name: a.filename ?? "(unnamed)",
      size: a.size,
      contentType: a.contentType,
    })),
  });
}

function addresses(value: AddressObject | AddressObject[] | undefined): string | undefined {
  if (!value) return undefined;
  const text = (Array.isArray(value) ? value : [value]).map((a) => a.text).join(", ");
  return text || undefined;
}

// A CommonJS module whose `exports.default` is the class: Node's ESM import hands over `exports`, a
// bundler's interop (vitest's) the class itself.
const MsgReader = ("default" in MsgReaderModule
  ? MsgReaderModule.default
  : MsgReaderModule) as unknown as typeof MsgReaderModule.default;

/** Outlook .msg (an OLE compound file): the same shape as an EML. */
export function extractMsg(bytes: Buffer): Extracted {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let data: ReturnType<InstanceType<typeof MsgReader>["getFileData"]>;
  try {
    data = new MsgReader(view).getFileData();
  } catch (err) {
    throw new DocumentError(
      FailureCode.CORRUPT,
      `The Outlook message cannot be read: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  if (data.error)
    throw new DocumentError(FailureCode.CORRUPT, `The Outlook message cannot be read: ${data.error}`);
  const recipients = (kind: string) =>
    (data.recipients ?? [])
      .filter((r) => (r.recipType ?? "to") === kind)
      .map((r) => person(r.name, r.smtpAddress ?? r.email))
      .join(", ") || undefined;
  const html = data.bodyHtml ?? (data.html ? new TextDecoder().decode(data.html) : "");
  return toExtracted({
    from: person(data.senderName, data.senderSmtpAddress ?? data.senderEmail) || undefined,
    to: recipients("to"),
    cc: recipients("cc"),
    date: data.clientSubmitTime ?? data.messageDeliveryTime ?? data.creationTime,
    subject: data.subject,
    body: data.body?.trim() || (html ? extractHtml(html) : ""),
    attachments: (data.attachments ?? []).map((a) => ({
      name: a.fileName ?? a.fileNameShort ?? a.name ?? "(unnamed)",
      size: a.contentLength ?? 0,
      contentType: a.attachMimeTag,
    })),
  });
}

function person(name?: string, email?: string): string {
  if (name && email && name !== email) return `${name} <${email}>`;
  return name ?? email ?? "";
}

function toExtracted(m: Message): Extracted {
  const lines: string[] = [];
  if (m.from) lines.push(`From: ${m.from}`);
  if (m.to) lines.push(`To: ${m.to}`);
  if (m.cc) lines.push(`Cc: ${m.cc}`);
  if (m.date) lines.push(`Date: ${m.date}`);
  if (m.subject) lines.push(`Subject: ${m.subject}`);
  const body = m.body.replace(/\r\n?/g, "\n").replace(/\n{3,}/g, "\n\n");
  if (body) lines.push("", body);
  if (m.attachments.length > 0) {
    lines.push(
      "",
      `Attachments: ${m.attachments.map((a) => `${a.name} (${formatSize(a.size)})`).join(", ")}`,
    );
  }
  return {
    pages: [{ number: 1, text: lines.join("\n").trim() }],
    pageCount: 1,
    attachments: m.attachments,
    title: m.subject?.trim() || undefined,
  };
}

/** 512 B, 12 KB, 3.4 MB: sizes as a mail client shows them. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
