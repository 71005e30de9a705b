/**
 * Looks at a page image before OCR, on a downscaled greyscale copy (a few milliseconds): is there
 * text-like ink at all (blank and picture-only pages skip tesseract), how tall the characters are
 * (small text is enlarged before the one read, instead of a second read), and how far the lines are
 * skewed (a projection profile: the angle at which rows of ink are sharpest).
 */

/** 8-bit greyscale pixels, one sample per pixel. */
export interface GreyImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface ScanLook {
  /** Dark pixels under the Otsu threshold, as a share of the page. */
  inkRatio: number;
  /** Connected dark components shaped like characters (not lines, frames, pictures or specks). */
  glyphs: number;
  /** Median height of those components, in pixels of the analysed image. */
  glyphHeight: number;
  /** Degrees the text lines are rotated counter-clockwise; rotate the page by -skew to straighten it. */
  skew: number;
  /** Otsu threshold of the page (0-255). */
  threshold: number;
  /** Text in side-by-side columns: a blank gutter runs down the text with glyphs on both sides. */
  columns: boolean;
  /**
   * Width the glyphs span (from the 2nd to the 98th percentile of their left and right edges), in
   * glyph heights: a receipt's column is 25-50, a page of running text 60 or more.
   */
  lineGlyphs: number;
}

/** Fewer character-like components than this ("Page 1" has 5): no text to read (blank, photo, rule, logo). */
export const MIN_GLYPHS = 4;
/** Lines are measured for skew only with this many glyphs: a title of a few big letters has no lines. */
export const MIN_SKEW_GLYPHS = 30;
/** Skew searched within ±MAX_SKEW degrees: beyond it pages are turned, which tesseract detects itself. */
export const MAX_SKEW = 6;

/** Otsu's threshold: the grey level that best splits the histogram into two classes. */
export function otsu(data: Uint8Array): number {
  const hist = new Array<number>(256).fill(0);
  for (let i = 0; i < data.length; i++) hist[data[i] as number] = (hist[data[i] as number] as number) + 1;
  const total = data.length;
  let sum = 0;
  for (let t = 0; t < 256; t++) sum += t * (hist[t] as number);
  let sumB = 0;
  let weightB = 0;
  let best = 0;
  let threshold = 127;
  for (let t = 0; t < 256; t++) {
    weightB += hist[t] as number;
    if (weightB === 0) continue;
    const weightF = total - weightB;
    if (weightF === 0) break;
    sumB += t * (hist[t] as number);
    const meanB = sumB / weightB;
    const meanF = (sum - sumB) / weightF;
    const between = weightB * weightF * (meanB - meanF) ** 2;
    if (between > best) {
      best = between;
      threshold = t;
    }
  }
  return threshold;
}

interface Component {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
  area: number;
}

/** 8-connected components of the ink mask (1 = ink), by a stack-based flood fill. */
function components(mask: Uint8Array, width: number, height: number): Component[] {
  const seen = new Uint8Array(mask.length);
  const stack = new Int32Array(mask.length);
  const out: Component[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (mask[start] === 0 || seen[start] === 1) continue;
    let top = 0;
    stack[top++] = start;
    seen[start] = 1;
    const c: Component = { minX: width, minY: height, maxX: 0, maxY: 0, area: 0 };
    while (top > 0) {
      const at = stack[--top] as number;
      const x = at % width;
      const y = (at - x) / width;
      c.area++;
      if (x < c.minX) c.minX = x;
      if (x > c.maxX) c.maxX = x;
      if (y < c.minY) c.minY = y;
      if (y > c.maxY) c.maxY = y;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const n = ny * width + nx;
          if (mask[n] === 1 && seen[n] === 0) {
            seen[n] = 1;
            stack[top++] = n;
          }
        }
      }
    }
    out.push(c);
  }
  return out;
}

/** A component shaped like a printed character at this image size (not a speck, rule, frame or picture). */
function glyphLike(c: Component, imageHeight: number): boolean {
  const w = c.maxX - c.minX + 1;
  const h = c.maxY - c.minY + 1;
  // Taller than a twelfth of a page is a picture's part; a strip of a line or two is all glyph.
  if (h < 4 || h > Math.max(imageHeight / 12, Math.min(imageHeight * 0.9, 60))) return false;
  if (w > h * 3 || h > w * 8) return false;
  // Filled blocks (photo blobs, bullets' big boxes) and hairline frames are not strokes of a glyph.
  const fill = c.area / (w * h);
  return fill > 0.12 && fill < 0.9;
}

/** Analyses a greyscale page (best around 1,000-1,600 px on its long side). */
export function lookAtScan(image: GreyImage): ScanLook {
  const { data, width, height } = image;
  const threshold = otsu(data);
  // A page without contrast (blank paper, an even tint) has no ink whatever Otsu says.
  let min = 255;
  let max = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mask = new Uint8Array(data.length);
  let ink = 0;
  if (max - min >= 48) {
    for (let i = 0; i < data.length; i++) {
      if ((data[i] as number) <= threshold) {
        mask[i] = 1;
        ink++;
      }
    }
  }
  // Dark pages (negatives, photos of dark surfaces): ink is the minority class, whichever side it is on.
  if (ink > data.length / 2) {
    ink = data.length - ink;
    for (let i = 0; i < mask.length; i++) mask[i] = mask[i] === 1 ? 0 : 1;
  }
  const glyphs = ink === 0 ? [] : components(mask, width, height).filter((c) => glyphLike(c, height));
  const heights = glyphs.map((c) => c.maxY - c.minY + 1).sort((a, b) => a - b);
  return {
    inkRatio: ink / Math.max(1, data.length),
    glyphs: glyphs.length,
    glyphHeight: heights[heights.length >> 1] ?? 0,
    skew: glyphs.length >= MIN_SKEW_GLYPHS ? skewOf(glyphs) : 0,
    threshold,
    columns: glyphs.length >= MIN_SKEW_GLYPHS && hasGutter(glyphs, heights[heights.length >> 1] ?? 0),
    lineGlyphs: spanOf(glyphs) / Math.max(1, heights[heights.length >> 1] ?? 0),
  };
}

/** Width the glyphs span, their outermost 2 % on each side (margin specks, stray marks) left out. */
function spanOf(glyphs: Component[]): number {
  if (glyphs.length === 0) return 0;
  const lefts = glyphs.map((c) => c.minX).sort((a, b) => a - b);
  const rights = glyphs.map((c) => c.maxX).sort((a, b) => a - b);
  const cut = Math.floor(glyphs.length * 0.02);
  return rights[rights.length - 1 - cut]! - lefts[cut]! + 1;
}

/**
 * The angle (degrees, counter-clockwise positive) of the text lines: the bottom centre of each glyph
 * is projected onto rows at each candidate angle; at the true angle a line's glyphs fall in the same
 * rows, so the sum of squared row counts peaks. Coarse steps of 0.5°, then 0.1° around the best.
 */
function skewOf(glyphs: Component[]): number {
  const points = glyphs.map((c) => ({ x: (c.minX + c.maxX) / 2, y: c.maxY }));
  const heights = glyphs.map((c) => c.maxY - c.minY + 1).sort((a, b) => a - b);
  const bin = Math.max(1, (heights[heights.length >> 1] ?? 4) / 4);
  const score = (degrees: number): number => {
    const t = Math.tan((degrees * Math.PI) / 180);
    const rows = new Map<number, number>();
    for (const p of points) {
      // y' = y + x·tan(angle): straightens lines that rise to the right by `angle`.
      const r = Math.round((p.y + p.x * t) / bin);
      rows.set(r, (rows.get(r) ?? 0) + 1);
    }
    let s = 0;
    for (const n of rows.values()) s += n * n;
    return s;
  };
  let best = 0;
  let bestScore = score(0);
  for (let a = -MAX_SKEW; a <= MAX_SKEW + 1e-9; a += 0.5) {
    const s = score(a);
    if (s > bestScore) {
      bestScore = s;
      best = a;
    }
  }
  const coarse = best;
  for (let a = coarse - 0.4; a <= coarse + 0.4 + 1e-9; a += 0.1) {
    const s = score(a);
    if (s > bestScore) {
      bestScore = s;
      best = a;
    }
  }
  return Math.round(best * 10) / 10;
}

/**
 * A gutter: within the middle half of the text's width, a run of columns at least two glyph heights
 * wide that no glyph touches, with at least a fifth of the glyphs on each side (a receipt's label and
 * amount columns do not count: its full-width lines cross the gap).
 */
function hasGutter(glyphs: Component[], glyphHeight: number): boolean {
  const left = Math.min(...glyphs.map((c) => c.minX));
  const right = Math.max(...glyphs.map((c) => c.maxX));
  const width = right - left + 1;
  if (width < glyphHeight * 20) return false;
  const covered = new Uint8Array(width);
  for (const c of glyphs) covered.fill(1, c.minX - left, c.maxX - left + 1);
  const need = Math.max(3, glyphHeight * 2);
  let run = 0;
  for (let x = Math.floor(width / 4); x < Math.ceil((width * 3) / 4); x++) {
    run = covered[x] === 1 ? 0 : run + 1;
    if (run >= need) {
      const at = left + x - run / 2;
      const before = glyphs.filter((c) => c.maxX < at).length;
      const after = glyphs.length - before;
      if (before >= glyphs.length / 5 && after >= glyphs.length / 5) return true;
    }
  }
  return false;
}
