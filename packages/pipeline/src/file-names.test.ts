import { describe, expect, it } from "vitest";
import { fileNameProblem, MAX_FILE_NAME_CHARS } from "./file-names.ts";

describe("fileNameProblem", () => {
  it.each([
    "report.pdf",
    "a/b/c.pdf",
    "Été 2024/Rechnung Nr. 5.pdf",
    "契約書.docx",
    "emoji 📄.txt",
    "..hidden.txt",
    "a..b.txt",
    "./a.txt",
    "a//b.txt",
    "x".repeat(MAX_FILE_NAME_CHARS),
  ])("accepts %j", (name) => {
    expect(fileNameProblem(name)).toBeNull();
  });

  it.each([
    ["", /1 to 1024/],
    ["x".repeat(MAX_FILE_NAME_CHARS + 1), /1 to 1024/],
    ["a\u0000.pdf", /control/],
    ["a\nb.pdf", /control/],
    ["a\rContent-Type: x.pdf", /control/],
    ["esc\u001b[31m.txt", /control/],
    ["c1\u0085.txt", /control/],
    ["invoice\u202efdp.exe", /bidirectional/],
    ["report\u200e.pdf", /bidirectional/],
    ["\u200ftxt.exe", /bidirectional/],
    ["alm\u061c.pdf", /bidirectional/],
    ["lone \ud800 high.txt", /valid Unicode/],
    ["lone \udc00 low.txt", /valid Unicode/],
    ["/etc/shadow", /relative/],
    ["\\\\server\\share\\x.pdf", /relative/],
    ["C:\\Windows\\x.ini", /relative/],
    ["c:x.ini", /relative/],
    ["../../etc/passwd", /'\.\.'/],
    ["a/../../b.pdf", /'\.\.'/],
    ["..\\..\\boot.ini", /'\.\.'/],
    ["a/..", /'\.\.'/],
  ])("refuses %j", (name, why) => {
    expect(fileNameProblem(name)).toMatch(why);
  });
});
