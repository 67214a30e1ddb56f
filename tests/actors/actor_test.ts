import assert from "node:assert/strict";
import { Actor, type FailureReport, spawn } from "../../actors/actor.ts";
import { MailboxClosedError, MailboxFullError } from "../../actors/errors.ts";
import { LinkError } from "../../runtime/errors.ts";

const tick = (ms = 0) => new Promise<void>((r) => setTimeout(r, ms));

Deno.test("Actor handles one message at a time", async () => {
  let active = 0;
  let maxActive = 0;
  const seen: number[] = [];
  const a = await spawn<number>({
    name: "serial",
    capacity: 1000,
    handler: async (n) => {
      active++;
      maxActive = Math.max(maxActive, active);
      await (n % 3 === 0 ? tick() : Promise.resolve());
      await Promise.resolve();
      seen.push(n);
      active--;
    },
  });
  const posts: Promise<void>[] = [];
  for (let i = 0; i < 200; i++) {
    if (i % 2) a.tell("a", i);
    else posts.push(a.tellAsync("b", i));
  }
  await Promise.all(posts);
  await a.stop();
  assert.equal(maxActive, 1);
  assert.equal(seen.length, 200);
  assert.deepEqual(seen.filter((n) => n % 2), Array.from({ length: 100 }, (_, i) => 2 * i + 1));
  assert.equal(a.state, "closed");
});

Deno.test("Actor state goes starting → running → stopping → closed", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const states: string[] = [];
  const a = new Actor<string>({
    name: "life",
    onStart: () => tick(1),
    handler: async () => {
      states.push(a.state);
      await gate;
    },
  });
  assert.equal(a.state, "starting");
  a.tell("t", "queued before start");
  await a.start();
  assert.equal(a.state, "running");
  await tick();
  const stopped = a.stop();
  assert.equal(a.state, "stopping");
  assert.throws(() => a.tell("t", "late"), MailboxClosedError);
  release();
  await stopped;
  assert.equal(a.state, "closed");
  assert.deepEqual(states, ["running"]);
  assert.deepEqual(await a.exited, { actor: "life", reason: "stopped" });
});

Deno.test("Actor reports a handler error to its supervisor and ends closed", async () => {
  const reports: FailureReport[] = [];
  const handled: string[] = [];
  const boom = new LinkError("peer-closed", 2, "rank 2 hung up");
  const a = await spawn<string>({
    name: "worker-1",
    onFailure: (r) => {
      assert.equal(a.state, "closed"); // closed before the supervisor hears
      reports.push(r);
    },
    handler: (m) => {
      handled.push(m);
      if (m === "bad") throw boom;
    },
  });
  a.tell("sup", "ok");
  a.tell("sup", "bad");
  a.tell("sup", "never");
  const exit = await a.exited;
  assert.equal(a.state, "closed");
  assert.deepEqual(handled, ["ok", "bad"]);
  assert.equal(reports.length, 1);
  assert.equal(reports[0].actor, "worker-1");
  assert.equal(reports[0].error, boom);
  assert.deepEqual(exit, { actor: "worker-1", reason: "failed", error: boom });
  assert.throws(() => a.tell("sup", "after"), (e: unknown) => {
    return e instanceof MailboxClosedError && e.cause === boom;
  });
  await a.stop(); // idempotent on a failed actor
});

Deno.test("Actor reports an onStart error the same way", async () => {
  const reports: FailureReport[] = [];
  const a = new Actor<string>({
    name: "w-start",
    onStart: () => Promise.reject(new Error("no GPU")),
    onFailure: (r) => reports.push(r),
    handler: () => {},
  });
  await a.start();
  assert.equal(a.state, "closed");
  assert.equal(reports[0].actor, "w-start");
  assert.match(String(reports[0].error), /no GPU/);
});

Deno.test("Actor.stop({ mode: 'drop' }) drops queued messages and aborts the signal", async () => {
  const handled: number[] = [];
  let aborted = false;
  const a = await spawn<number>({
    name: "dropper",
    handler: async (n, ctx) => {
      handled.push(n);
      await tick(2);
      aborted ||= ctx.signal.aborted;
    },
  });
  for (let i = 0; i < 5; i++) a.tell("s", i);
  await Promise.resolve();
  await a.stop({ mode: "drop" });
  assert.deepEqual(handled, [0]);
  assert.equal(aborted, true);
  assert.equal(a.state, "closed");
});

Deno.test("Actor.stop() drains queued messages by default", async () => {
  const handled: number[] = [];
  const a = await spawn<number>({
    name: "drainer",
    handler: async (n) => {
      await tick();
      handled.push(n);
    },
  });
  for (let i = 0; i < 5; i++) a.tell("s", i);
  await a.stop();
  assert.deepEqual(handled, [0, 1, 2, 3, 4]);
});

Deno.test("Actor.tell() throws MailboxFullError at capacity", async () => {
  const a = new Actor<number>({ name: "tiny", capacity: 2, handler: () => {} });
  a.tell("s", 1);
  a.tell("s", 2);
  assert.throws(() => a.tell("s", 3), (e: unknown) => {
    return e instanceof MailboxFullError && e.actor === "tiny" && e.sender === "s";
  });
  await a.stop(); // never started: drops and closes
  assert.equal(a.state, "closed");
});
