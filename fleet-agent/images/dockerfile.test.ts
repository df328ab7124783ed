import { describe, expect, it } from "vitest";
import { BuildProgress } from "./build-progress.ts";
import { renderDockerfile } from "./dockerfile.ts";

describe("renderDockerfile", () => {
  it("writes ENV, WORKDIR, COPY and RUN steps, then the worker runtime", () => {
    const dockerfile = renderDockerfile(
      {
        base: "node:22-slim",
        commands: ["npm install", 'echo "done"'],
        env: { MODE: 'a "quoted" value' },
        workdir: "/app",
        files: [{ hash: "ab".repeat(32), path: "/app/data.txt", mode: 0o644 }],
      },
      "node:22-slim",
    );

    expect(dockerfile).toBe(
      [
        "FROM node:22-slim",
        'ENV MODE="a \\"quoted\\" value"',
        "WORKDIR /app",
        'COPY ["files/0","/app/data.txt"]',
        'RUN ["/bin/sh","-c","npm install"]',
        'RUN ["/bin/sh","-c","echo \\"done\\""]',
        'COPY ["chalkcompute-worker.mjs","/opt/chalkcompute/worker.mjs"]',
        "",
      ].join("\n"),
    );
  });

  it("rejects an environment name Docker cannot set", () => {
    expect(() =>
      renderDockerfile(
        { base: "b", commands: [], env: { "BAD NAME": "x" }, files: [] },
        "b",
      ),
    ).toThrow(/image env name "BAD NAME" is invalid/);
  });
});

describe("BuildProgress", () => {
  it("follows steps and describes a failure with the end of its log", () => {
    const steps: string[] = [];
    const progress = new BuildProgress((step) => steps.push(step));
    progress.take({ stream: "Step 1/3 : FROM base\n ---> 1234\n" });
    progress.take({ stream: "Step 2/3 : RUN make\n" });
    for (let i = 0; i < 40; i++) progress.take({ stream: `line ${i}\n` });
    progress.take({ error: "The command '/bin/sh -c make' returned 2" });

    expect(steps).toEqual(["step 1/3: FROM base", "step 2/3: RUN make"]);
    const lines = progress.failureDetail().split("\n");
    expect(lines[0]).toBe("step 2/3: RUN make failed");
    expect(lines[1]).toBe("line 10");
    expect(lines.at(-2)).toBe("line 39");
    expect(lines.at(-1)).toBe("The command '/bin/sh -c make' returned 2");
  });

  it("strips terminal color codes from the log", () => {
    const progress = new BuildProgress();
    progress.take({ stream: "Step 1/1 : RUN ls /missing\n" });
    progress.take({
      stream: "\u001b[91mls: cannot access '/missing'\n\u001b[0m",
    });
    progress.take({ error: "returned a non-zero code: 2" });

    const detail = progress.failureDetail();
    expect(detail).toContain("ls: cannot access '/missing'");
    expect(detail).not.toContain("\u001b");
  });
});
