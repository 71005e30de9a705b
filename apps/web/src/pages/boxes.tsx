// Field boxes drawn over a page (an image, or a PDF page's canvas): shared by Preview and PdfPages.

export type Box = { name: string; page: number; box: [number, number, number, number] };

/** Field boxes over a page whose pixel size (the OCR'd image's) is width × height; scales with the page. */
export function BoxLayer({
  boxes,
  width,
  height,
  highlight,
}: {
  boxes: Box[];
  width: number;
  height: number;
  highlight?: string;
}) {
  return (
    <svg className="boxes" viewBox={`0 0 ${width} ${height}`} preserveAspectRatio="none" data-testid="boxes">
      <title>Where each field was read on the page</title>
      {boxes.map((b) => (
        <g key={`${b.name}-${b.box.join(",")}`} className={b.name === highlight ? "hl" : undefined}>
          <rect
            x={b.box[0]}
            y={b.box[1]}
            width={b.box[2] - b.box[0]}
            height={b.box[3] - b.box[1]}
            data-field={b.name}
          />
          <title>{b.name}</title>
        </g>
      ))}
    </svg>
  );
}
