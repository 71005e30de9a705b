/**
 * OCR repairs for letterhead text with fixed vocabularies: the words postal addresses are made of
 * (street and building words), Malaysia's states and federal territories, its larger towns, and
 * country names; and the trading words of shop names (enterprise, trading, hardware...). A word OCR misread by one letter ("JOHAR", "MALAYSTA", "PERINDUSTIAN") is put back
 * when exactly one vocabulary word is that close; a word OCR split in two ("K AWASAN") is joined; a
 * 5-digit postcode whose first digit was read as a sign ("&1200") gets its digit back. Names of
 * streets, areas and shops are not in it: nothing says what they should be.
 */

const WORDS = `
jalan lorong persiaran lebuhraya lebuh taman kawasan perindustrian perdagangan perniagaan bandar baru
seksyen kampung bangunan kompleks plaza menara wisma pusat medan desa bukit sungai batu simpang
utara selatan timur barat tengah jaya indah utama
floor level block ground first second third fourth fifth street road avenue lane building centre center
johor bahru selangor darul ehsan takzim makmur ridzuan aman naim khusus pahang perak penang pinang
melaka malacca kelantan terengganu sabah sarawak perlis negeri sembilan putrajaya labuan
wilayah persekutuan kuala lumpur malaysia singapore
petaling klang subang puchong cheras kajang kembangan serdang ampang rawang seremban ipoh kuantan
georgetown butterworth setar bharu kinabalu kuching sandakan tawau skudai kulai senai masai pasir gudang
pahat muar kluang segamat pontian tinggi bangi nilai semenyih cyberjaya damansara genting highlands
`;

/** Words of shop names (the trading words company.ts knows names by), for the same repairs. */
const NAME_WORDS = `
enterprise enterprises trading traders restaurant restoran perniagaan hardware supermarket minimarket
stationery bakery pharmacy farmasi machinery supplies services holdings international industries
electrical electronics kitchen kitchenette delights bookstore boutique florist gallery station
`;

interface Vocabulary {
  words: Set<string>;
  byLength: Map<number, string[]>;
}

function vocabulary(words: string): Vocabulary {
  // With plurals: "RESTAURANTS" is a word, not a misread "RESTAURANT".
  const set = new Set(
    words
      .trim()
      .toUpperCase()
      .split(/\s+/)
      .flatMap((w) => [w, `${w}S`]),
  );
  const byLength = new Map<number, string[]>();
  for (const w of set) byLength.set(w.length, [...(byLength.get(w.length) ?? []), w]);
  return { words: set, byLength };
}

const ADDRESS = vocabulary(WORDS);
const NAMES = vocabulary(NAME_WORDS);

/** True when a and b (upper case) are one substitution, insertion or deletion apart. */
function oneEdit(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1 || a === b) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (a.length === b.length) return a.slice(i + 1) === b.slice(i + 1);
  return a.length > b.length ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}

/** The vocabulary word a misread word stands for, when exactly one is a letter away. */
function nearest(word: string, v: Vocabulary, min: number): string | undefined {
  const upper = word.toUpperCase();
  // "SERVICE" is the singular of "SERVICES", not a misreading of it.
  if (upper.length < min || v.words.has(upper) || v.words.has(`${upper}S`)) return undefined;
  const near = [upper.length - 1, upper.length, upper.length + 1]
    .flatMap((n) => v.byLength.get(n) ?? [])
    .filter((w) => oneEdit(upper, w));
  return near.length === 1 ? near[0] : undefined;
}

/** Each word of `text` a letter away from exactly one word of `v`, put back in its case. */
function repairWords(text: string, v: Vocabulary, min: number): string {
  return text.replace(/(?<![\p{L}\d])\p{L}+(?![\p{L}\d])/gu, (word) => {
    const fixed = nearest(word, v, min);
    return fixed ? sameCase(fixed, word) : word;
  });
}

/** A shop's name with its trading words OCR misread by a letter put back ("RESTAURAMT"). */
export function repairNameWords(text: string): string {
  return repairWords(text, NAMES, 7);
}

/** `word` written in the case `like` is written in (UPPER, Title, lower). */
function sameCase(word: string, like: string): string {
  if (like === like.toUpperCase()) return word.toUpperCase();
  if (like === like.toLowerCase()) return word.toLowerCase();
  return word[0]!.toUpperCase() + word.slice(1).toLowerCase();
}

/** `text` with vocabulary words OCR misread or split put back, and postcodes' lost first digit. */
export function repairAddressWords(text: string): string {
  let out = text.replace(/(?<![\p{L}])(\p{L})\s(\p{L}{4,})(?![\p{L}])/gu, (all, a: string, b: string) =>
    ADDRESS.words.has(`${a}${b}`.toUpperCase()) ? `${a}${b}` : all,
  );
  out = repairWords(out, ADDRESS, 5);
  // "&1200 Johor Bahru": a postcode's 8 read as "&" (or B, £, §), its 5 as S or $.
  if (!/(?<![\d])\d{5}(?!\d)/.test(out)) {
    out = out.replace(/(?<=^|[\s,.])([&B$S£§])(\d{4})(?=[\s,.]|$)/, (_, c: string, d: string) =>
      c === "$" || c === "S" ? `5${d}` : `8${d}`,
    );
  }
  return out;
}
