import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { encodeValue } from "../schemas/values.ts";
import { CallClient } from "./call-client.ts";
import { OutcomeCollector, ValueStream } from "./call-results.ts";
import { connectUrl } from "./config.ts";
import { defineFunction } from "./define-function.ts";
import { WebSocketUpgradeError } from "./reconnecting-socket.ts";
import { FakeGateway } from "./testing/fake-gateway.ts";
import { WebSocketChannel } from "./websocket-channel.ts";

const gateway = new FakeGateway();
const channels: WebSocketChannel[] = [];

// Each `release()` lets the gated generator yield one more value.
const gate: (() => void)[] = [];
let executions = 0;
function release(): void {
  gate.shift()?.();
}

defineFunction(async function* gated(n: number) {
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve) => gate.push(resolve));
    yield i;
  }
});

defineFunction(function counted(x: number) {
  executions++;
  return x * 10;
});

beforeAll(() => gateway.start());
afterEach(() => {
  for (const channel of channels.splice(0)) channel.close();
});
afterAll(() => gateway.stop());

function connect(token = gateway.token, errors: Error[] = []) {
  const channel = new WebSocketChannel({
    url: connectUrl(gateway.url),
    token,
    initialDelayMs: 10,
    maxDelayMs: 50,
    onError: (error) => errors.push(error),
  });
  channels.push(channel);
  return { channel, client: new CallClient(channel) };
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("WebSocketChannel", () => {
  it("sends frames queued before the first connect", async () => {
    const { client } = connect();
    const collector = new OutcomeCollector();

    await client.submit("counted", encodeValue([4]), collector);

    await expect(collector.promise).resolves.toEqual({
      kind: "result",
      value: 40,
    });
  });

  it("resumes a stream after a reconnect without repeats", async () => {
    const { client } = connect();
    const stream = new ValueStream<number>();
    const seen: number[] = [];
    const reading = (async () => {
      for await (const value of stream) seen.push(value);
    })();
    await client.submit("gated", encodeValue([5]), stream);
    await waitFor(() => gate.length === 1, "the first yield");
    release();
    await waitFor(() => gate.length === 1, "the second yield");
    release();
    await waitFor(() => seen.length === 2, "two values");

    gateway.dropConnections(1012);
    await waitFor(() => gateway.connectionCount === 0, "the close");
    for (let i = 0; i < 3; i++) {
      await waitFor(() => gate.length === 1, `yield ${i + 2}`);
      release();
    }
    await reading;

    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it("resubmits with the same key when Accepted was lost", async () => {
    const { client } = connect();
    const before = gateway.queue.submits.length;
    const runsBefore = executions;
    await client.submit("counted", encodeValue([1]));
    gateway.dropServerFrames = true;

    const collector = new OutcomeCollector();
    const accepted = client.submit("counted", encodeValue([7]), collector);
    await waitFor(
      () => gateway.queue.submits.length === before + 2,
      "the submit to reach the queue",
    );
    gateway.dropServerFrames = false;
    gateway.dropConnections(1012);

    await expect(accepted).resolves.toMatch(/^fc-.*-counted$/);
    await expect(collector.promise).resolves.toEqual({
      kind: "result",
      value: 70,
    });
    const submits = gateway.queue.submits.slice(before + 1);
    expect(submits).toHaveLength(2);
    expect(submits[1]?.idempotencyKey).toBe(submits[0]?.idempotencyKey);
    expect(executions - runsBefore).toBe(2);
  });

  it("reports a rejected token with its HTTP status", async () => {
    const errors: Error[] = [];
    connect("wrong", errors);

    await waitFor(() => errors.length > 0, "the upgrade failure");

    expect(errors[0]).toBeInstanceOf(WebSocketUpgradeError);
    expect((errors[0] as WebSocketUpgradeError).status).toBe(401);
  });
});
