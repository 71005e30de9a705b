/**
 * Tests only: writes a small PDF from object bodies (object 1 is the catalog), with a correct xref table,
 * for crafting structures the corpus does not have (runaway drawings, unsupported filters).
 */
export function craftPdf(objects: string[]): Buffer {
  let out = "%PDF-1.7\n";
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(out, "latin1"));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, "latin1");
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

export const stream = (data: string, dict = "") =>
  `<< /Length ${Buffer.byteLength(data, "latin1")}${dict} >>\nstream\n${data}\nendstream`;

const CATALOG = "<< /Type /Catalog /Pages 2 0 R >>";
const PAGES = "<< /Type /Pages /Kids [3 0 R] /Count 1 >>";
const FONT = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";

/**
 * One page that says "Hello", then draws form XObject 5, which draws the next one four times, `depth`
 * levels deep: 1.5 KB that expand to 4^depth drawing operations.
 */
export function fanOutPdf(depth: number): Buffer {
  const page =
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R " +
    "/Resources << /XObject << /X 5 0 R >> /Font << /F1 6 0 R >> >> >>";
  const objects = [CATALOG, PAGES, page, stream("BT /F1 12 Tf 72 700 Td (Hello) Tj ET /X Do"), "", FONT];
  // XObject k (k = 0..depth-1) has object number: 5 for k = 0, then 7, 8, ...
  const num = (k: number) => (k === 0 ? 5 : 6 + k);
  for (let k = 0; k < depth; k++) {
    const last = k === depth - 1;
    const body = last ? "0 0 m 1 1 l S" : "/N Do /N Do /N Do /N Do";
    const resources = last ? "" : ` /Resources << /XObject << /N ${num(k + 1)} 0 R >> >>`;
    objects[num(k) - 1] = stream(body, ` /Type /XObject /Subtype /Form /BBox [0 0 10 10]${resources}`);
  }
  return craftPdf(objects);
}

/** A page of text whose content stream names a filter (`/BrotliDecode`...) pdf.js does not decode. */
export function filteredPdf(filter: string): Buffer {
  const page =
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>";
  return craftPdf([CATALOG, PAGES, page, stream("\u001b\u002a\u0000\u0000", ` /Filter /${filter}`), FONT]);
}
