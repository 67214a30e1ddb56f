// The order in which a link carries an operation's (hop, segment) pairs: the sender's and the
// receiver's agree on every link, every pair follows the pair it waits for, and a ring of
// senders that each take their pairs in order never deadlocks.
import assert from "node:assert/strict";
import {
  HOP_LAG,
  hopOrder,
  mod,
  receivedChunk,
  sentChunk,
} from "../../../runtime/collective/_ring_io.ts";
import { planSegments } from "../../../runtime/collective/plan.ts";

const key = ([k, s]: [number, { index: number }]) => `${k}:${s.index}`;

/** Plans of uneven chunks: two layers of odd sizes, segments of at most 5 elements. */
function plans(N: number) {
  const layout = [
    { name: "a", type: "dense", offset: 0, length: 37 },
    { name: "b", type: "conv", offset: 37, length: 90 + N },
  ];
  return planSegments(127 + N, N, layout, 5);
}

Deno.test("hopOrder: on every link the sender's order is the receiver's, N = 2..6, lags 1, 2, 4, plain", () => {
  for (let N = 2; N <= 6; N++) {
    const plan = plans(N);
    for (const lag of [1, 2, 4, 1e9]) {
      for (let r = 0; r < N; r++) {
        const sent = hopOrder(plan, N, sentChunk(r, N), lag).map(key);
        const got = hopOrder(plan, N, receivedChunk(mod(r + 1, N), N), lag).map(key);
        assert.deepEqual(got, sent, `N ${N}, lag ${lag}, link ${r} → ${r + 1}`);
        assert.equal(new Set(sent).size, sent.length, "each pair once");
        const steps = Array.from({ length: 2 * (N - 1) }, (_, k) => k);
        const want = steps.reduce((sum, k) => {
          const rs = k < N - 1;
          return sum + plan[sentChunk(r, N)(rs ? k : k - (N - 1), rs)].length;
        }, 0);
        assert.equal(sent.length, want, "every step's segments");
      }
    }
  }
});

Deno.test("hopOrder: a ring of senders taking their pairs in order completes, and the lag interleaves hops", () => {
  for (let N = 2; N <= 6; N++) {
    const plan = plans(N);
    for (const lag of [1, HOP_LAG, 4, 1e9]) {
      // Simulate: each rank sends its next pair once it has received that segment at the hop before.
      const orders = Array.from({ length: N }, (_, r) => hopOrder(plan, N, sentChunk(r, N), lag));
      const next = new Array(N).fill(0);
      const received = Array.from({ length: N }, () => new Set<string>());
      let moved = true;
      while (moved) {
        moved = false;
        for (let r = 0; r < N; r++) {
          const pair = orders[r][next[r]];
          if (!pair) continue;
          const [k, seg] = pair;
          if (k > 0 && !received[r].has(`${k - 1}:${seg.index}`)) continue;
          received[mod(r + 1, N)].add(`${k}:${seg.index}`);
          next[r]++;
          moved = true;
        }
      }
      for (let r = 0; r < N; r++) {
        assert.equal(next[r], orders[r].length, `N ${N}, lag ${lag}: rank ${r} stuck`);
      }
    }
  }
  // At lag 2 on two ranks the all-gather's first segment goes before the reduce-scatter's last.
  const plan = plans(2);
  const order = hopOrder(plan, 2, sentChunk(0, 2), HOP_LAG).map(([k]) => k);
  assert.ok(order.indexOf(1) < order.lastIndexOf(0), order.join(""));
  const plain = hopOrder(plan, 2, sentChunk(0, 2), 1e9).map(([k]) => k);
  assert.deepEqual(plain, [...plain].sort((a, b) => a - b), "a huge lag is the plain order");
});
