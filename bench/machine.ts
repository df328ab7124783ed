import { readFileSync } from "node:fs";
import { availableParallelism, release, totalmem } from "node:os";

/** The machine a benchmark ran on. */
export interface MachineInfo {
  /** Logical CPUs this process may use. */
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  os: string;
}

/** Reads the machine's CPU, memory and software facts. */
export function describeMachine(): MachineInfo {
  return {
    cores: availableParallelism(),
    cpuModel: readCpuModel(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${process.platform} ${release()} ${process.arch}`,
  };
}

/** Returns the first "model name" of /proc/cpuinfo, or "unknown" off Linux. */
export function readCpuModel(cpuinfo = readCpuinfo()): string {
  const match = /^model name\s*:\s*(.+)$/m.exec(cpuinfo);
  return match?.[1]?.trim() ?? "unknown";
}

function readCpuinfo(): string {
  try {
    return readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return "";
  }
}
