import assert from "node:assert/strict";
import { timeToTarget } from "../../scripts/bench_train.ts";

Deno.test("bench:train time to target: the first evaluation from which the target holds", () => {
  const fid = [361, 290, 313, 300, 279, 283, 272, 266].map((q, i) => ({
    seconds: 10 * i,
    quality: q,
  }));
  // 290 at 10 s is an early dip that does not hold; 279 at 40 s is undone at 50 s.
  assert.equal(timeToTarget(fid, 280, true), 60);
  assert.equal(timeToTarget(fid, 250, true), null);
  assert.equal(timeToTarget(fid, 400, true), 0);
  const modes = [0, 1, 0, 2, 3, 3].map((q, i) => ({ seconds: i, quality: q }));
  assert.equal(timeToTarget(modes, 2, false), 3);
  assert.equal(timeToTarget([], 1, false), null);
});
