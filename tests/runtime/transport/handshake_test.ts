import assert from "node:assert/strict";
import { HandshakeError } from "../../../runtime/errors.ts";
import {
  acceptorHandshake,
  connectorHandshake,
  type HandshakeParams,
  macEqual,
} from "../../../runtime/transport/handshake.ts";
import { memoryLinkPair } from "../../../runtime/transport/memory.ts";

const enc = new TextEncoder();
const base = { ringId: 7n, epoch: 3, worldSize: 4, timeoutMs: 2000 };

/** Rank 1 connects to rank 2; returns both sides' outcomes. */
async function shake(
  conn: Partial<HandshakeParams>,
  acc: Partial<HandshakeParams>,
): Promise<[PromiseSettledResult<void>, PromiseSettledResult<void>]> {
  const [a, b] = memoryLinkPair(1, 2); // a: rank 1's end, b: rank 2's end
  const res = await Promise.allSettled([
    // Each side closes its end when it is done, as the TCP ring does on failure.
    connectorHandshake(a, { ...base, rank: 1, secret: null, ...conn }, 2).finally(() => a.close()),
    acceptorHandshake(b, { ...base, rank: 2, secret: null, ...acc }, 1).finally(() => b.close()),
  ]);
  return res as [PromiseSettledResult<void>, PromiseSettledResult<void>];
}

const reason = (r: PromiseSettledResult<void>) =>
  r.status === "rejected" ? (r.reason as Error) : null;

Deno.test("handshake succeeds with the same secret, and without one on both sides", async () => {
  const s = enc.encode("correct horse");
  for (const [c, a] of await Promise.all([shake({ secret: s }, { secret: s }), shake({}, {})])) {
    assert.equal(c.status, "fulfilled", String(reason(c)));
    assert.equal(a.status, "fulfilled", String(reason(a)));
  }
});

Deno.test("a wrong secret is refused by both sides", async () => {
  const [c, a] = await shake({ secret: enc.encode("guess") }, { secret: enc.encode("secret") });
  assert.ok(reason(c) instanceof HandshakeError);
  assert.match(reason(c)!.message, /rank 2 failed authentication \(wrong secret\)/);
  assert.ok(reason(a) instanceof HandshakeError, String(reason(a)));
});

Deno.test("a missing secret on either side is refused", async () => {
  const [c1, a1] = await shake({}, { secret: enc.encode("s") });
  assert.match(reason(c1)!.message, /uses a secret; this side has none/);
  assert.ok(reason(a1) instanceof HandshakeError);
  const [c2, a2] = await shake({ secret: enc.encode("s") }, {});
  assert.match(reason(c2)!.message, /rank 2 has no secret; this ring requires one/);
  assert.ok(reason(a2) instanceof HandshakeError);
});

Deno.test("ring id, epoch, world size and rank must match", async () => {
  const cases: [Partial<HandshakeParams>, RegExp][] = [
    [{ ringId: 8n }, /ring id 8 \(expected 7\)/],
    [{ epoch: 2 }, /epoch 2 \(expected 3\)/],
    [{ worldSize: 5 }, /world size 5 \(expected 4\)/],
    [{ rank: 0 }, /rank 0 \(expected rank 1\)/],
  ];
  for (const [conn, re] of cases) {
    const [, a] = await shake(conn, {});
    assert.ok(reason(a) instanceof HandshakeError, `${re}`);
    assert.match(reason(a)!.message, re);
  }
});

Deno.test("macEqual() compares whole byte strings", () => {
  assert.ok(macEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])));
  assert.ok(!macEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])));
  assert.ok(!macEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])));
});
