import { expect, it } from "vitest";
import { isIsoDate } from "./dates.ts";

it("accepts calendar dates written YYYY-MM-DD and nothing else", () => {
  expect(["2024-02-29", "1999-12-31", "2023-01-01"].map(isIsoDate)).toEqual([true, true, true]);
  const bad = [
    "2023-02-29",
    "2024-02-30",
    "2024-04-31",
    "2024-13-01",
    "2024-00-10",
    "2024-1-1",
    "01/02/2024",
    "2024-01-01T00:00:00Z",
    "",
  ];
  expect(bad.filter(isIsoDate)).toEqual([]);
});
