import type { XmlElement } from "./zip.ts";

/**
 * MathML (ODF formulas, HTML `<math>`) as LaTeX-like linear text, like Office Math in omml.ts:
 * `\frac{a}{b}`, `{x}^{2}`, `\sqrt{x}`. The StarMath annotation an ODF formula carries is left out: the
 * presentation markup is what the reader sees.
 */
export function mathmlText(el: XmlElement): string {
  return node(el).replace(/\s+/g, " ").trim();
}

const kids = (el: XmlElement): XmlElement[] =>
  el.children.filter((c): c is XmlElement => typeof c !== "string");

const group = (s: string) => `{${s}}`;

function all(el: XmlElement): string {
  return kids(el).map(node).join("");
}

function node(el: XmlElement): string {
  const [a, b, c] = kids(el).map(node);
  switch (el.name) {
    case "mi":
    case "mn":
    case "mtext":
    case "ms":
      return leaf(el);
    case "mo":
      return ` ${leaf(el)} `.replace(/^ ([([{]) $/, "$1").replace(/^ ([)\]}]) $/, "$1");
    case "mspace":
      return " ";
    case "mfrac":
      return `\\frac{${a ?? ""}}{${b ?? ""}}`;
    case "msup":
      return `${group(a ?? "")}^${group(b ?? "")}`;
    case "msub":
      return `${group(a ?? "")}_${group(b ?? "")}`;
    case "msubsup":
      return `${group(a ?? "")}_${group(b ?? "")}^${group(c ?? "")}`;
    case "munder":
      return `${group(a ?? "")}_${group(b ?? "")}`;
    case "mover":
      return `${group(a ?? "")}^${group(b ?? "")}`;
    case "munderover":
      return `${group(a ?? "")}_${group(b ?? "")}^${group(c ?? "")}`;
    case "msqrt":
      return `\\sqrt{${all(el)}}`;
    case "mroot":
      return `\\sqrt[${b ?? ""}]{${a ?? ""}}`;
    case "mfenced": {
      const open = el.attrs.open ?? "(";
      const close = el.attrs.close ?? ")";
      const sep = el.attrs.separators?.trim().charAt(0) || ",";
      return `${open}${kids(el).map(node).join(sep)}${close}`;
    }
    case "mtable":
      return `\\begin{matrix}${kids(el)
        .map((row) => kids(row).map(node).join(" & "))
        .join(" \\\\ ")}\\end{matrix}`;
    case "annotation":
    case "annotation-xml":
      return "";
    case "semantics":
      // The first child is the presentation; the others are annotations.
      return a ?? "";
    default:
      return all(el);
  }
}

function leaf(el: XmlElement): string {
  let s = "";
  for (const c of el.children) s += typeof c === "string" ? c : leaf(c);
  return s.trim();
}
