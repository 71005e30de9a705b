import { describe, expect, it } from "vitest";
import { formBody } from "./transfer.ts";

/** FormData's own encoding of the same form, with its boundary replaced by `boundary`. */
async function viaFormData(
  fields: { name: string; value: string }[],
  fileName: string,
  bytes: Buffer,
  boundary: string,
) {
  const form = new FormData();
  for (const f of fields) form.append(f.name, f.value);
  form.append("file", new Blob([new Uint8Array(bytes)]), fileName);
  const res = new Response(form);
  const own = /boundary=(.+)$/.exec(res.headers.get("content-type") ?? "")![1]!;
  return Buffer.from(await res.arrayBuffer())
    .toString("latin1")
    .replaceAll(own, boundary);
}

describe("formBody", () => {
  it("encodes a form byte for byte as FormData does (policy fields, then the file)", async () => {
    const cases: [{ name: string; value: string }[], string, Buffer][] = [
      [
        [
          { name: "key", value: "t/1/u/2" },
          { name: "policy", value: "eyJ4IjoxfQ==" },
        ],
        "a.txt",
        Buffer.from("hello\n"),
      ],
      [
        [{ name: 'odd "name"\nx', value: "line\none\r\ntwo\rthree" }],
        'qu"ote\r\nd.pdf',
        Buffer.from([0, 13, 10, 255]),
      ],
      [[{ name: "Content-Type", value: "text/plain; charset=utf-8" }], "résumé ✓.txt", Buffer.alloc(0)],
    ];
    for (const [fields, fileName, bytes] of cases) {
      const { body, contentType } = formBody(fields, fileName, bytes);
      const boundary = /boundary=(.+)$/.exec(contentType)![1]!;
      expect(body.toString("latin1")).toBe(await viaFormData(fields, fileName, bytes, boundary));
    }
  });

  it("uses a fresh boundary each time", () => {
    const a = formBody([], "f", Buffer.from("x")).contentType;
    const b = formBody([], "f", Buffer.from("x")).contentType;
    expect(a).not.toBe(b);
  });
});
