import { childrenNamed, type XmlElement } from "./zip.ts";

/**
 * Office Math (OMML, the `m:` elements of DOCX and PPTX) as LaTeX-like linear text: `\frac{a}{b}`,
 * `{x}^{2}`, `\sqrt{x}`, `\sum_{i=1}^{n}`, matrices as `\begin{matrix}a & b \\ c & d\end{matrix}`.
 * Readable as text and searchable by its symbols and numbers; not meant to be typeset exactly.
 */
export function ommlText(el: XmlElement): string {
  return math(el).replace(/\s+/g, " ").trim();
}

const NARY: Record<string, string> = {
  "∑": "\\sum",
  "∏": "\\prod",
  "∐": "\\coprod",
  "∫": "\\int",
  "∬": "\\iint",
  "∭": "\\iiint",
  "∮": "\\oint",
  "⋃": "\\bigcup",
  "⋂": "\\bigcap",
  "⋁": "\\bigvee",
  "⋀": "\\bigwedge",
};

const ACCENT: Record<string, string> = {
  "\u0302": "\\hat",
  "\u0303": "\\tilde",
  "\u0304": "\\bar",
  "\u0305": "\\overline",
  "\u0307": "\\dot",
  "\u0308": "\\ddot",
  "\u20d7": "\\vec",
  "\u030c": "\\check",
  "\u0301": "\\acute",
  "\u0300": "\\grave",
  "\u0306": "\\breve",
};

/** The `m:val` of a property child such as `m:fPr/m:type`, if present. */
function prop(el: XmlElement, pr: string, name: string): string | undefined {
  const p = childrenNamed(el, pr)[0];
  const v = p ? childrenNamed(p, name)[0] : undefined;
  return v ? (v.attrs["m:val"] ?? v.attrs.val ?? "") : undefined;
}

const arg = (el: XmlElement, name: string): string =>
  childrenNamed(el, name)
    .map((c) => math(c))
    .join("");

const group = (s: string) => `{${s}}`;

function math(el: XmlElement): string {
  let out = "";
  for (const c of el.children) {
    if (typeof c === "string") continue;
    out += node(c);
  }
  return out;
}

function node(el: XmlElement): string {
  switch (el.name) {
    case "r":
      return childrenNamed(el, "t")
        .map((t) => t.children.filter((x): x is string => typeof x === "string").join(""))
        .join("");
    case "oMath":
      return math(el);
    case "oMathPara":
      return childrenNamed(el, "oMath").map(math).join(" \\\\ ");
    case "f": {
      const num = arg(el, "num");
      const den = arg(el, "den");
      const type = prop(el, "fPr", "type");
      if (type === "lin" || type === "skw") return `${num}/${den}`;
      if (type === "noBar") return `\\binom{${num}}{${den}}`;
      return `\\frac{${num}}{${den}}`;
    }
    case "sSup":
      return `${group(arg(el, "e"))}^${group(arg(el, "sup"))}`;
    case "sSub":
      return `${group(arg(el, "e"))}_${group(arg(el, "sub"))}`;
    case "sSubSup":
      return `${group(arg(el, "e"))}_${group(arg(el, "sub"))}^${group(arg(el, "sup"))}`;
    case "sPre":
      return `{}_${group(arg(el, "sub"))}^${group(arg(el, "sup"))}${group(arg(el, "e"))}`;
    case "rad": {
      const hide = prop(el, "radPr", "degHide");
      const deg = arg(el, "deg");
      return hide === "1" || hide === "on" || hide === "true" || !deg
        ? `\\sqrt{${arg(el, "e")}}`
        : `\\sqrt[${deg}]{${arg(el, "e")}}`;
    }
    case "d": {
      const beg = prop(el, "dPr", "begChr") ?? "(";
      const end = prop(el, "dPr", "endChr") ?? ")";
      const sep = prop(el, "dPr", "sepChr") ?? "|";
      return `${beg}${childrenNamed(el, "e").map(math).join(sep)}${end}`;
    }
    case "nary": {
      const chr = prop(el, "naryPr", "chr") ?? "∫";
      const op = NARY[chr] ?? chr;
      const sub = arg(el, "sub");
      const sup = arg(el, "sup");
      return `${op}${sub ? `_${group(sub)}` : ""}${sup ? `^${group(sup)}` : ""} ${arg(el, "e")}`;
    }
    case "func":
      return `${arg(el, "fName")} ${arg(el, "e")}`;
    case "acc": {
      const chr = prop(el, "accPr", "chr") ?? "\u0302";
      return `${ACCENT[chr] ?? "\\hat"}{${arg(el, "e")}}`;
    }
    case "bar":
      return prop(el, "barPr", "pos") === "bot"
        ? `\\underline{${arg(el, "e")}}`
        : `\\overline{${arg(el, "e")}}`;
    case "groupChr":
      return prop(el, "groupChrPr", "pos") === "top"
        ? `\\overbrace{${arg(el, "e")}}`
        : `\\underbrace{${arg(el, "e")}}`;
    case "limLow":
      return `${group(arg(el, "e"))}_${group(arg(el, "lim"))}`;
    case "limUpp":
      return `${group(arg(el, "e"))}^${group(arg(el, "lim"))}`;
    case "eqArr":
      return childrenNamed(el, "e").map(math).join(" \\\\ ");
    case "m":
      return `\\begin{matrix}${childrenNamed(el, "mr")
        .map((row) => childrenNamed(row, "e").map(math).join(" & "))
        .join(" \\\\ ")}\\end{matrix}`;
    case "box":
    case "borderBox":
    case "phant":
    case "e":
      return math(el);
    default:
      // Properties (`*Pr`) are formatting; anything else unknown contributes its text.
      return el.name.endsWith("Pr") ? "" : math(el);
  }
}
