import { describe, expect, it } from "vitest";
import { describeMachine, readCpuModel } from "./machine.ts";

describe("readCpuModel", () => {
  it("takes the first model name", () => {
    const cpuinfo = [
      "processor\t: 0",
      "model name\t: AMD EPYC 7B13",
      "processor\t: 1",
      "model name\t: Other",
    ].join("\n");

    expect(readCpuModel(cpuinfo)).toBe("AMD EPYC 7B13");
  });

  it("reports unknown without the field", () => {
    expect(readCpuModel("processor\t: 0\n")).toBe("unknown");
  });
});

describe("describeMachine", () => {
  it("reports this process's node and cores", () => {
    const machine = describeMachine();

    expect(machine.node).toBe(process.version);
    expect(machine.cores).toBeGreaterThanOrEqual(1);
    expect(machine.memoryGiB).toBeGreaterThan(0);
  });
});
