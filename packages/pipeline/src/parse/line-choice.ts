import type { PageWord } from "./types.ts";

/** A line of words as read, in reading order. */
export interface ChoiceLine {
  words: PageWord[];
}

/**
 * Words a letterhead is made of (legal forms, trading words, the words of postal addresses, Malaysia's
 * states and larger towns: the SROIE receipts' letterheads): a read that spells them is likelier right
 * than one that does not. Upper case, with plurals added. Much of it is also in the extractor's
 * adapters/models/builtin/vocabulary.ts, which parse/ may not import (layer rule pipeline-logic-no-adapters).
 */
const KNOWN = new Set(
  `sdn bhd berhad enterprise trading traders restaurant restoran kedai perniagaan hardware mart market
  supermarket minimarket store shop cafe bakery pharmacy farmasi stationery gallery machinery supplies
  supply services holdings international industries motor electrical electronics station kitchen
  delights bookstore books florist boutique hotel clinic group company limited trading
  jalan jln lorong persiaran lebuhraya lebuh taman tmn kawasan perindustrian perdagangan bandar baru
  seksyen kampung bangunan kompleks plaza menara wisma pusat medan desa bukit sungai batu simpang
  utara selatan timur barat tengah jaya indah utama floor level block ground street road avenue lane
  building centre center johor bahru selangor darul ehsan takzim pahang perak penang pinang melaka
  kelantan terengganu sabah sarawak perlis negeri sembilan putrajaya labuan wilayah persekutuan kuala
  lumpur malaysia singapore petaling klang subang puchong cheras kajang kembangan serdang ampang rawang
  seremban ipoh kuantan skudai kulai senai masai pasir gudang muar kluang bangi nilai semenyih
  damansara no lot tel fax gst reg`
    .toUpperCase()
    .split(/\s+/)
    .filter((w) => w !== "")
    .flatMap((w) => [w, `${w}S`]),
);

/** Characters OCR makes of specks, rules and dot-matrix fragments; print in a letterhead rarely has them. */
const JUNK = /[|‘’“”"«»§£¢¥$!?~^`\\_{}[\]=—–•¬°¦]/gu;

/**
 * How word-like a line of OCR text is, in characters: letters of a word in one case (UPPER, Title,
 * lower) or a known letterhead word (KNOWN, counted half again), numbers with their separators, and
 * registration-like codes count for; words mixing letters and digits ("8HD", "S0N", "5ALE"), odd case
 * ("MaNIS") and junk characters (JUNK) count against. Lone letters count nothing.
 */
export function wordLikeness(text: string): number {
  let score = 0;
  for (const token of text.split(/\s+/)) {
    if (token === "") continue;
    const junk = token.match(JUNK)?.length ?? 0;
    score -= 2 * junk;
    const core = token.replace(JUNK, "").replace(/^[.,:;()'"*#&+-]+|[.,:;()'"*#&+-]+$/g, "");
    if (core === "") continue;
    if (/^\p{L}+$/u.test(core)) {
      if (core.length < 2) continue;
      const upper = core.toUpperCase();
      const oneCase =
        core === upper || core === core.toLowerCase() || core.slice(1) === core.slice(1).toLowerCase();
      if (!oneCase) score -= core.length / 2;
      else score += KNOWN.has(upper) ? core.length * 1.5 : core.length;
    } else if (/^[\d.,/:-]+$/.test(core)) {
      score += core.replace(/[^\d]/g, "").length;
    } else if (/^(?:\d+-?\p{Lu}|\p{Lu}{1,3}[.-]?\d+|\d+\p{Lu}?[-/]\d+\p{Lu}?)$/u.test(core)) {
      // 123456-A, 12A, NO.5, B-12, 3A/12: registration numbers and lots.
      score += core.length / 2;
    } else {
      // Letters and digits mixed: a code ("CSPO393921") or a misread ("8HD"): neither for nor against.
      if (!(/\p{L}/u.test(core) && /\d/.test(core))) score -= core.length / 2;
    }
  }
  return score;
}

/** Upper-case letters and digits only: what two reads of one line are compared on. */
function skeleton(text: string): string {
  return text.toUpperCase().replace(/[^\p{L}\d]/gu, "");
}

export interface ChoiceWeights {
  /** Weight of the reads that read the line's letters and digits exactly alike, times its length. */
  same: number;
  /** A line only a re-read holds (none of the others have anything beside it) is kept only this word-like per character. */
  alone: number;
}

export const CHOICE_WEIGHTS: ChoiceWeights = { same: 1, alone: 0.6 };

/**
 * Several reads of one region merged line by line: lines of different reads that overlap vertically
 * (by half the lower one's height) form a band; each band's lines come from the read whose text there
 * scores highest on wordLikeness plus its agreement with the other reads (weights.same times its
 * length in letters and digits for each other read that has exactly those letters and digits there),
 * the first read on ties.
 * A band only one read holds is kept when that read is the first, or its text is word-like enough
 * (weights.alone per character): specks and rules a re-read turns into letters are dropped.
 * Answers the chosen lines, top to bottom.
 */
export function chooseLines(reads: ChoiceLine[][], weights: ChoiceWeights = CHOICE_WEIGHTS): ChoiceLine[] {
  type Placed = { line: ChoiceLine; from: number; y0: number; y1: number };
  const all: Placed[] = reads.flatMap((lines, from) =>
    lines
      .filter((l) => l.words.length > 0)
      .map((line) => ({
        line,
        from,
        y0: Math.min(...line.words.map((w) => w.bbox[1])),
        y1: Math.max(...line.words.map((w) => w.bbox[3])),
      })),
  );
  const parent = all.map((_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  const overlaps = (p: Placed, q: Placed) =>
    Math.min(p.y1, q.y1) - Math.max(p.y0, q.y0) > 0.5 * Math.min(p.y1 - p.y0, q.y1 - q.y0);
  for (let i = 0; i < all.length; i++)
    for (let j = i + 1; j < all.length; j++)
      if (all[i]!.from !== all[j]!.from && overlaps(all[i]!, all[j]!)) parent[root(i)] = root(j);
  const bands = new Map<number, Placed[]>();
  all.forEach((p, i) => {
    const band = bands.get(root(i));
    if (band) band.push(p);
    else bands.set(root(i), [p]);
  });
  const chosen: { lines: Placed[]; top: number }[] = [];
  for (const band of bands.values()) {
    const byRead = new Map<number, Placed[]>();
    for (const p of band) byRead.set(p.from, [...(byRead.get(p.from) ?? []), p]);
    const candidates = [...byRead.entries()]
      .sort(([a], [b]) => a - b)
      .map(([from, lines]) => {
        lines.sort((p, q) => p.y0 - q.y0);
        const text = lines.map((p) => p.line.words.map((w) => w.text).join(" ")).join(" ");
        return { from, lines, text, skeleton: skeleton(text) };
      });
    const top = Math.min(...band.map((p) => p.y0));
    if (candidates.length === 1) {
      const only = candidates[0]!;
      const chars = only.text.replace(/\s/g, "").length;
      if (only.from === 0 || wordLikeness(only.text) >= weights.alone * chars)
        chosen.push({ lines: only.lines, top });
      continue;
    }
    let best = candidates[0]!;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (const c of candidates) {
      let same = 0;
      for (const o of candidates) if (o !== c && o.skeleton === c.skeleton) same++;
      const score = wordLikeness(c.text) + weights.same * same * c.skeleton.length;
      if (score > bestScore) {
        best = c;
        bestScore = score;
      }
    }
    chosen.push({ lines: best.lines, top });
  }
  chosen.sort((p, q) => p.top - q.top);
  return chosen.flatMap((c) => c.lines.map((p) => p.line));
}
