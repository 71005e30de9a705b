/** Lower-cases and strips accents (é → e, ß → ss) so keywords match however they were typed. */
export function fold(s: string): string {
  return s
    .normalize("NFD")
    .replace(/\p{M}+/gu, "")
    .replace(/ß/g, "ss")
    .toLowerCase();
}

/** Words of folded text: runs of letters and digits. */
export function words(folded: string): string[] {
  return folded.match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Escapes a string for use inside a RegExp. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/** Short function words of the languages we meet; they carry no topic. */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    "a an the and or but if of to in on at by for with from as is are was were be been being it its this that " +
    "these those there here which who whom whose what when where why how all any each few more most other some " +
    "such no nor not only own same so than too very can will just should would could may might must do does did " +
    "has have had having i me my we our you your he him his she her they them their us into over under about " +
    "after before between through during out up down off again further then once also per via etc " +
    "der die das und oder ein eine einer eines dem den des ist sind mit von zu im auf fur nicht " +
    "le la les un une des et ou de du au aux en est sont avec pour par sur dans pas " +
    "el los las y o del al es son con por para en una unos unas " +
    "dan atau yang di ke dari untuk ini itu dengan"
  ).split(" "),
);
