import { describe, expect, it } from "vitest";
import { RestartBackoff } from "./backoff.ts";

describe("RestartBackoff", () => {
  it("doubles from 0.5 s up to 10 s", () => {
    const backoff = new RestartBackoff();
    const delays = Array.from({ length: 7 }, () => backoff.next(0));
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  it("resets after 60 s of service", () => {
    const backoff = new RestartBackoff();
    backoff.next(0);
    backoff.next(0);
    expect(backoff.next(59_999)).toBe(2000);
    expect(backoff.next(60_000)).toBe(500);
  });
});
