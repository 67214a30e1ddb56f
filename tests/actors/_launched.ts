// One process of a launched job: whatever launcher started it, it calls
// train() like every other rank and prints its rank and final checksum.
import { train } from "../../mod.ts";

const r = await train({
  problem: new URL("./_user_problem.ts", import.meta.url),
  collective: "allgather", // named: the test compares it with an in-process run bit for bit
  steps: 40,
  lr: 2,
  seed: 3,
  checksumEvery: 10,
});
console.log(JSON.stringify({ rank: r.rank, workers: r.workers, checksum: r.checksum }));
