import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { formatSize } from "./email.ts";
import { parseDocument } from "./index.ts";

const formats = new URL("../../../../../shared/corpus/formats/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, formats));
const opts = { maxPages: 100, maxTextChars: 1_000_000 };

const pdfBytes = Buffer.alloc(12 * 1024, 0x41)
  .toString("base64")
  .replace(/.{76}/g, "$&\r\n");
const EML = [
  "Received: from mail.example.com by mx.example.org; Tue, 14 May 2024 09:00:00 +0000",
  "From: Ann Example <ann@example.com>",
  "To: Bob <bob@example.org>, carol@example.org",
  "Subject: =?UTF-8?Q?Quarterly_r=C3=A9sum=C3=A9?=",
  "Date: Tue, 14 May 2024 09:30:00 +0000",
  "Message-ID: <1@example.com>",
  "MIME-Version: 1.0",
  'Content-Type: multipart/mixed; boundary="b1"',
  "",
  "--b1",
  "Content-Type: text/plain; charset=utf-8",
  "Content-Transfer-Encoding: quoted-printable",
  "",
  "Hello Bob,=0A=0Athe figures are attached. Caf=C3=A9 at noon?",
  "--b1",
  'Content-Type: application/pdf; name="report.pdf"',
  'Content-Disposition: attachment; filename="report.pdf"',
  "Content-Transfer-Encoding: base64",
  "",
  pdfBytes,
  "--b1--",
  "",
].join("\r\n");

describe("EML", () => {
  it("gives the headers as lines, the body, and the attachments listed", async () => {
    const doc = await parseDocument(Buffer.from(EML), opts);
    expect(doc).toMatchObject({
      detectedType: "eml",
      mimeType: "message/rfc822",
      pageCount: 1,
      title: "Quarterly résumé",
      attachments: [{ name: "report.pdf", size: 12 * 1024, contentType: "application/pdf" }],
    });
    expect(doc.text).toBe(
      [
        'From: "Ann Example" <ann@example.com>',
        'To: "Bob" <bob@example.org>, carol@example.org',
        "Date: Tue, 14 May 2024 09:30:00 GMT",
        "Subject: Quarterly résumé",
        "",
        "Hello Bob,",
        "",
        "the figures are attached. Café at noon?",
        "",
        "Attachments: report.pdf (12 KB)",
      ].join("\n"),
    );
  });

  it("converts an HTML-only body to text", async () => {
    const eml = [
      "From: a@example.com",
      "Subject: Newsletter",
      "Content-Type: text/html; charset=utf-8",
      "",
      "<html><body><h1>News</h1><p>Read <a href='https://x.example'>this</a>.</p><script>x()</script></body></html>",
    ].join("\r\n");
    const doc = await parseDocument(Buffer.from(eml), opts);
    expect(doc.detectedType).toBe("eml");
    expect(doc.text).toMatch(/\n\nNews\n+Read this\.$/);
    expect(doc.text).not.toMatch(/<|x\.example|x\(\)/);
    expect(doc.attachments).toEqual([]);
  });
});

describe("MSG", () => {
  it("gives an Outlook message the same shape as an EML", async () => {
    const simple = await parseDocument(read("email/msg_simple.msg"), opts);
    expect(simple).toMatchObject({
      detectedType: "msg",
      mimeType: "application/vnd.ms-outlook",
      title: "Simple Email",
      attachments: [],
    });
    expect(simple.text).toBe(
      [
        "From: Alice Example <alice@example.com>",
        "To: Bob Example <bob@example.com>",
        "Date: Wed, 20 May 2026 10:30:00 GMT",
        "Subject: Simple Email",
        "",
        "Hello Bob,",
        "",
        "This is a simple email body.",
      ].join("\n"),
    );
    const attached = await parseDocument(read("email/msg_with_attachment.msg"), opts);
    expect(attached.attachments).toEqual([
      { name: "test.txt", size: 64, contentType: "text/plain" },
      { name: "report.pdf", size: 26, contentType: "application/pdf" },
    ]);
    expect(attached.text).toMatch(/\nAttachments: test\.txt \(64 B\), report\.pdf \(26 B\)$/);
  });

  it("fails CORRUPT on a truncated message", async () => {
    const bytes = read("email/msg_with_attachment.msg");
    // Cut after the directory, so that it is still recognised as a message.
    const directory = bytes.lastIndexOf(Buffer.from("__substg1.0_", "utf16le"));
    await expect(parseDocument(bytes.subarray(0, directory + 200), opts)).rejects.toMatchObject({
      code: "CORRUPT",
    });
  });
});

describe("formatSize", () => {
  it("uses B, KB and MB", () => {
    expect([formatSize(512), formatSize(12 * 1024 + 100), formatSize(3.4 * 1024 * 1024)]).toEqual([
      "512 B",
      "12 KB",
      "3.4 MB",
    ]);
  });
});
