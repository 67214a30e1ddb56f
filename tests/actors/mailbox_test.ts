import assert from "node:assert/strict";
import { Mailbox } from "../../actors/mailbox.ts";
import { MailboxClosedError, MailboxFullError } from "../../actors/errors.ts";
import { QodaError } from "../../runtime/errors.ts";

Deno.test("take() returns messages FIFO per sender", async () => {
  const box = new Mailbox<number>({ name: "w0", capacity: 100 });
  for (let i = 0; i < 20; i++) box.post(i % 2 ? "a" : "b", i);
  const got: Record<string, number[]> = { a: [], b: [] };
  for (let i = 0; i < 20; i++) {
    const { sender, msg } = await box.take();
    got[sender].push(msg);
  }
  assert.deepEqual(got.a, [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
  assert.deepEqual(got.b, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  assert.equal(box.size, 0);
});

Deno.test("take() is fair: a quiet sender is not starved by a chatty one", async () => {
  const box = new Mailbox<string>({ name: "w0", capacity: 200 });
  for (let i = 0; i < 100; i++) box.post("A", `a${i}`);
  box.post("B", "b0");
  const first2 = [await box.take(), await box.take()];
  assert.ok(first2.some((e) => e.sender === "B" && e.msg === "b0"), JSON.stringify(first2));
  // A's order survives the interleaving.
  const rest: string[] = [];
  while (box.size > 0) rest.push((await box.take()).msg);
  assert.deepEqual(rest, Array.from({ length: 99 }, (_, i) => `a${i + 1}`));
});

Deno.test("take() round-robins across three senders", () => {
  const box = new Mailbox<number>({ capacity: 100 });
  for (let i = 0; i < 3; i++) {
    box.post("x", i);
    box.post("y", i);
  }
  box.post("z", 0);
  const order = [];
  for (let e = box.tryTake(); e; e = box.tryTake()) order.push(`${e.sender}${e.msg}`);
  assert.deepEqual(order, ["x0", "y0", "z0", "x1", "y1", "x2", "y2"]);
});

Deno.test("post() throws MailboxFullError naming actor and sender at capacity", async () => {
  const box = new Mailbox<number>({ name: "worker-3", capacity: 2 });
  box.post("a", 1);
  box.post("b", 2);
  assert.throws(() => box.post("sup", 3), (e: unknown) => {
    assert.ok(e instanceof MailboxFullError);
    assert.ok(e instanceof QodaError);
    assert.equal(e.actor, "worker-3");
    assert.equal(e.sender, "sup");
    assert.equal(e.capacity, 2);
    assert.match(e.message, /worker-3/);
    assert.match(e.message, /sup/);
    return true;
  });
  assert.equal(box.size, 2);
  await box.take();
  box.post("sup", 3); // space again
  assert.equal(box.size, 2);
});

Deno.test("constructor rejects a bad capacity", () => {
  assert.throws(() => new Mailbox({ capacity: 0 }), RangeError);
  assert.throws(() => new Mailbox({ capacity: 1.5 }), RangeError);
});

Deno.test("postAsync() waits for space and keeps order", async () => {
  const box = new Mailbox<number>({ name: "w", capacity: 1 });
  box.post("a", 0);
  let admitted = false;
  const p = box.postAsync("a", 1).then(() => admitted = true);
  await Promise.resolve();
  assert.equal(admitted, false);
  // A sync post cannot jump the queue of waiting senders.
  assert.throws(() => box.post("b", 9), MailboxFullError);
  assert.deepEqual(await box.take(), { sender: "a", msg: 0 });
  await p;
  assert.equal(admitted, true);
  assert.deepEqual(await box.take(), { sender: "a", msg: 1 });
});

Deno.test("postAsync() withdraws the message when its signal aborts", async () => {
  const box = new Mailbox<number>({ capacity: 1 });
  box.post("a", 0);
  const ac = new AbortController();
  const p = box.postAsync("a", 1, ac.signal);
  ac.abort(new Error("gave up"));
  await assert.rejects(p, /gave up/);
  await box.take();
  assert.equal(box.size, 0);
  assert.equal(box.tryTake(), undefined);
});

Deno.test("take() waits for a post", async () => {
  const box = new Mailbox<string>({ capacity: 4 });
  const p = box.take();
  box.post("s", "late");
  assert.deepEqual(await p, { sender: "s", msg: "late" });
});

Deno.test("close() rejects pending takes, waiting senders and later posts", async () => {
  const full = new Mailbox<number>({ name: "w1", capacity: 1 });
  full.post("a", 0);
  const waiting = full.postAsync("b", 1);
  const dropped = full.close("ring rebuilt");
  assert.deepEqual(dropped, [{ sender: "a", msg: 0 }]);
  await assert.rejects(waiting, (e: unknown) => {
    assert.ok(e instanceof MailboxClosedError);
    assert.equal(e.actor, "w1");
    assert.equal(e.cause, "ring rebuilt");
    return true;
  });

  const box = new Mailbox<number>({ name: "w2", capacity: 4 });
  const t1 = box.take();
  const t2 = box.take();
  box.close(new Error("bye"));
  for (const t of [t1, t2]) {
    await assert.rejects(t, (e: unknown) => e instanceof MailboxClosedError && e.actor === "w2");
  }
  assert.throws(() => box.post("x", 1), MailboxClosedError);
  await assert.rejects(box.postAsync("x", 1), MailboxClosedError);
  await assert.rejects(box.take(), MailboxClosedError);
  assert.equal(box.closed, true);
});

Deno.test("close({ drain: true }) keeps queued messages takeable, then rejects", async () => {
  const box = new Mailbox<number>({ capacity: 4 });
  box.post("a", 1);
  box.post("a", 2);
  assert.deepEqual(box.close("stop", { drain: true }), []);
  assert.throws(() => box.post("a", 3), MailboxClosedError);
  assert.equal((await box.take()).msg, 1);
  assert.equal((await box.take()).msg, 2);
  await assert.rejects(box.take(), MailboxClosedError);
});
