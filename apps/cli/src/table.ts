import Table from "cli-table3";

/** cli-table3 without borders. */
const PLAIN_TABLE = {
  top: "",
  "top-mid": "",
  "top-left": "",
  "top-right": "",
  bottom: "",
  "bottom-mid": "",
  "bottom-left": "",
  "bottom-right": "",
  left: "",
  "left-mid": "",
  mid: "",
  "mid-mid": "",
  right: "",
  "right-mid": "",
  middle: "",
};

export type PlainTable = InstanceType<typeof Table>;

/** A listing's table (cli-table3, no borders: greppable, columns aligned); push rows, then `renderTable`. */
export function plainTable(head: string[]): PlainTable {
  return new Table({
    head,
    chars: PLAIN_TABLE,
    style: { head: [], border: [], "padding-left": 0, "padding-right": 2 },
  });
}

/** The table's text, without the padding cli-table3 leaves at the end of each line. */
export function renderTable(t: PlainTable): string {
  return t
    .toString()
    .split("\n")
    .map((l) => l.trimEnd())
    .join("\n");
}
