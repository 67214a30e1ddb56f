// Listening ports under a crowd of connections that never authenticate: 100
// idle and 100 slow-drip connections on the supervisor's control port and on
// every worker's ring port, while a 4-worker run forms its ring, loses a worker
// to kill -9, forms it again and finishes. Handshakes run concurrently with
// their own deadlines and the oldest unauthenticated connections make room, so
// the run ends with the parameters of an undisturbed run.
import assert from "node:assert/strict";
import { TrainingSupervisor } from "../../actors/supervisor.ts";
import { jobConfig } from "../../actors/job.ts";
import { localWorkerCommand } from "../../actors/launch.ts";
import { problemModule } from "../../models/registry.ts";
import { train } from "../../actors/train.ts";

const job = jobConfig({
  problem: "bilinear",
  module: problemModule("bilinear"),
  problemOptions: { sigmaRel: 0.1 },
  lr: 0.5,
  steps: 300,
  seed: 11,
  adapt: { warmup: [20, 100], every: 0 },
  checksumEvery: 25,
  timeoutMs: 20_000,
});

/** Holds `n` idle and `n` slow-drip connections to `port` until `stop` resolves. */
function crowd(port: number, n: number, stop: Promise<void>): Promise<void>[] {
  const held: Promise<void>[] = [];
  for (let i = 0; i < 2 * n; i++) {
    const drip = i % 2 === 1;
    held.push((async () => {
      let conn: Deno.TcpConn;
      try {
        conn = await Deno.connect({ hostname: "127.0.0.1", port });
      } catch {
        return; // refused while the listener was busy: fine
      }
      let done = false;
      stop.then(() => (done = true));
      try {
        // A slow drip: one byte of a frame header every 200 ms, never a whole frame.
        for (let k = 0; drip && !done && k < 400; k++) {
          await conn.write(new Uint8Array([k & 0xff]));
          await new Promise((r) => setTimeout(r, 200));
        }
        await stop;
      } catch {
        // dropped by the listener to make room: that is what it should do
      } finally {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
    })());
  }
  return held;
}

Deno.test("100 idle and 100 slow-drip connections on every port: a 4-worker run forms, survives kill -9, ends as undisturbed", async () => {
  const undisturbed = await train({
    problem: job.module,
    name: job.problem,
    options: job.problemOptions,
    runtime: "inprocess",
    workers: 4,
    lr: job.lr,
    steps: job.steps,
    seed: job.seed,
    adapt: job.adapt,
    checksumEvery: job.checksumEvery,
    timeoutMs: job.timeoutMs,
    commitEvery: 50,
  });
  let release!: () => void;
  const stop = new Promise<void>((r) => (release = r));
  const held: Promise<void>[] = [];
  const crowded = new Set<number>();
  let victim = -1;
  const sup: TrainingSupervisor = new TrainingSupervisor({
    job,
    workers: 4,
    spawn: localWorkerCommand(),
    commitEvery: 50,
    log: (line) => {
      // Every worker's ring port, as it joins (replacements too).
      const m = / \(ring address 127\.0\.0\.1:(\d+)\)/.exec(line);
      if (m && !crowded.has(Number(m[1]))) {
        crowded.add(Number(m[1]));
        held.push(...crowd(Number(m[1]), 100, stop));
      }
    },
    onStep: (s) => {
      if (s.step === 130 && victim < 0) {
        victim = sup.workerPids[1];
        Deno.kill(victim, "SIGKILL");
      }
    },
  });
  const running = sup.run();
  while (!sup.address) await new Promise((r) => setTimeout(r, 5));
  held.push(...crowd(Number(sup.address.split(":")[1]), 100, stop));
  try {
    const r = await running;
    assert.ok(victim > 0, "a worker was killed");
    assert.equal(r.recoveries.length, 1);
    assert.equal(r.recoveries[0].resumeStep, 100);
    assert.ok(
      crowded.size >= 5,
      `crowded ${crowded.size} ring ports (4 workers and a replacement)`,
    );
    assert.equal(r.replicas_agree, true);
    assert.equal(r.checksum, undisturbed.checksum, "the parameters of an undisturbed run");
  } finally {
    release();
    await Promise.all(held);
  }
});
