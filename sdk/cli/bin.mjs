#!/usr/bin/env node
// Entry of the `chalkcompute` command: registers tsx so that the CLI and the
// user's modules load as TypeScript, then runs the CLI.
import { register } from "tsx/esm/api";

register();
const { run } = await import("./main.ts");
await run(process.argv);
