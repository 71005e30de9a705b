import { convert } from "html-to-text";

const headings = ["h1", "h2", "h3", "h4", "h5", "h6"].map((selector) => ({
  selector,
  format: "heading",
  // Keep the author's casing: later stages match and embed the words as written.
  options: { uppercase: false, leadingLineBreaks: 2, trailingLineBreaks: 1 },
}));

const skipped = ["script", "style", "noscript", "template", "svg", "img", "iframe", "object"].map(
  (selector) => ({
    selector,
    format: "skip",
  }),
);

/** Visible text of an HTML document: headings, paragraphs, lists and tables, without markup or URLs. */
export function extractHtml(html: string): string {
  return convert(html, {
    wordwrap: false,
    selectors: [
      ...skipped,
      ...headings,
      { selector: "a", options: { ignoreHref: true } },
      {
        selector: "table",
        format: "dataTable",
        options: { uppercaseHeaderCells: false, maxColumnWidth: 120, colSpacing: 2 },
      },
    ],
  }).trim();
}
