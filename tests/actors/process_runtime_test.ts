// The process runtime end to end: a supervisor in this process, workers as
// real `deno` processes over TCP. Recovery, agreed NaN skips, elastic
// shrinking, remote workers with a secret, and Ctrl-C.
import assert from "node:assert/strict";
import { TrainingSupervisor, type TrainingSupervisorOptions } from "../../actors/supervisor.ts";
import type { JobConfig } from "../../actors/job.ts";
import { problemModule } from "../../models/registry.ts";
import { localWorkerCommand } from "../../actors/launch.ts";

function job(over: Partial<JobConfig> = {}): JobConfig {
  return {
    problem: "bilinear",
    module: problemModule("bilinear"),
    problemOptions: { sigmaRel: 0.1 },
    optimizer: "qoda",
    lr: 0.5,
    quant: "layerwise",
    bits: 4,
    bucket: 1024,
    collective: "allgather",
    steps: 300,
    seed: 5,
    adapt: { warmup: [20, 100], every: 0 },
    checksumEvery: 25,
    timeoutMs: 20_000,
    ...over,
  };
}

function run(options: Partial<TrainingSupervisorOptions> & { job: JobConfig }) {
  return new TrainingSupervisor({ workers: 3, spawn: localWorkerCommand(), ...options }).run();
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \([^)]*\) Z/.test(stat); // a zombie is dead
  } catch {
    return false;
  }
}

Deno.test("QODA on 3 worker processes: converges, one collective per step, replicas agree; Q-GenX two", async () => {
  const q = await run({ job: job() });
  assert.ok(q.metrics.dist < 0.5 * 2, `dist ${q.metrics.dist}`);
  assert.equal(q.collectives, 300);
  assert.equal(q.replicas_agree, true);
  assert.equal(q.recoveries.length, 0);
  assert.ok(q.bytes_sent > 0);
  const g = await run({ job: job({ optimizer: "qgenx", steps: 100 }), workers: 2 });
  assert.equal(g.collectives, 200, "Q-GenX: two collectives per iteration");
  assert.equal(g.replicas_agree, true);
});

Deno.test("kill -9 of a worker: the supervisor restarts it, restores the last commit, and the result is bit-identical", async () => {
  const j = job({ steps: 400 });
  const base = await run({ job: j, commitEvery: 50 });
  let victim = -1;
  const sup: TrainingSupervisor = new TrainingSupervisor({
    job: j,
    workers: 3,
    spawn: localWorkerCommand(),
    commitEvery: 50,
    onStep: (s) => {
      if (s.step === 130 && victim < 0) {
        victim = sup.workerPids[1];
        Deno.kill(victim, "SIGKILL");
      }
    },
  });
  const r = await sup.run();
  assert.ok(victim > 0);
  assert.equal(alive(victim), false);
  assert.equal(r.recoveries.length, 1);
  const ev = r.recoveries[0];
  assert.equal(ev.resumeStep, 100, "resumed from the commit after step 100");
  assert.equal(ev.size, 3, "a replacement worker joined");
  assert.ok(ev.recoveryMs! < 10_000, `recovered in ${ev.recoveryMs} ms`);
  assert.match(ev.reason, /rank 1/);
  assert.equal(r.checksum, base.checksum, "same parameters as the uninterrupted run");
  assert.equal(r.metrics.dist, base.metrics.dist);
  assert.equal(r.collectives, base.collectives);
  assert.equal(r.bytes_sent, base.bytes_sent);
  assert.equal(r.replicas_agree, true);
});

Deno.test("a supervised run resumed from its commit file ends bit-identical to an uninterrupted one", async () => {
  const dir = await Deno.makeTempDir();
  const straight = await run({ job: job({ steps: 200 }), workers: 2 });
  const first = await run({
    job: job({ steps: 100 }),
    workers: 2,
    commitEvery: 50,
    commitDir: dir,
  });
  assert.equal(first.replicas_agree, true);
  const resumed = await run({ job: job({ steps: 200 }), workers: 2, resumeFrom: dir });
  assert.equal(resumed.checksum, straight.checksum);
  assert.equal(resumed.collectives, straight.collectives);
  await assert.rejects(
    run({ job: job({ steps: 200, lr: 0.25 }), workers: 2, resumeFrom: dir }),
    /cannot resume from .*: the commit was made with different lr/,
  );
  await assert.rejects(
    run({ job: job({ steps: 200 }), workers: 3, resumeFrom: dir }),
    /it has 2 ranks, this run 3/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("--elastic: after kill -9 the ring goes on with fewer workers and still converges", async () => {
  let victim = -1;
  const sup: TrainingSupervisor = new TrainingSupervisor({
    job: job({ steps: 400, problemOptions: {} }),
    workers: 3,
    spawn: localWorkerCommand(),
    commitEvery: 50,
    elastic: true,
    onStep: (s) => {
      if (s.step === 80 && victim < 0) {
        victim = sup.workerPids[2];
        Deno.kill(victim, "SIGKILL");
      }
    },
  });
  const r = await sup.run();
  assert.equal(r.recoveries.length, 1);
  assert.equal(r.recoveries[0].size, 2);
  assert.equal(r.recoveries[0].resumeStep, 50);
  assert.ok(r.metrics.dist < 1, `dist ${r.metrics.dist}`);
  assert.equal(r.replicas_agree, true);
});

Deno.test("a NaN on one rank: every rank skips that step, agreed through the supervisor, and training goes on", async () => {
  const skips: { step: number; ranks: number[] }[] = [];
  const r = await run({
    job: job({ problemOptions: { nanAt: { rank: 1, call: 40 } }, steps: 200 }),
    workers: 2,
    onStep: (s) => s.skip && skips.push({ step: s.step, ranks: s.nonFiniteRanks }),
  });
  assert.deepEqual(skips, [{ step: 40, ranks: [1] }]);
  assert.equal(r.skipped, 1);
  assert.equal(r.replicas_agree, true);
  assert.ok(Number.isFinite(r.metrics.dist) && r.metrics.dist < 2);
});

Deno.test("remote workers join with the secret; one with a wrong secret is refused", async () => {
  const secret = "s3cret-for-test";
  const sup = new TrainingSupervisor({
    job: job({ steps: 100 }),
    workers: 2,
    spawn: null,
    secret,
    joinTimeoutMs: 30_000,
  });
  const running = sup.run();
  while (!sup.address) await new Promise((r) => setTimeout(r, 10));
  const [exe, ...args] = localWorkerCommand();
  const start = (s: string) =>
    new Deno.Command(exe, {
      args: [...args, "--join", sup.address, "--secret", s],
      stdout: "null",
      stderr: "piped",
      env: { QODA_RING_SECRET: "" },
    }).spawn();
  const impostor = start("wrong");
  const good = [start(secret), start(secret)];
  const bad = await impostor.output();
  assert.equal(bad.code, 1);
  assert.match(new TextDecoder().decode(bad.stderr), /authentication|secret|refused/i);
  const r = await running;
  assert.equal(r.workers, 2);
  assert.equal(r.replicas_agree, true);
  for (const g of good) assert.equal((await g.status).code, 0, "workers exit 0 on shutdown");
});

Deno.test("Ctrl-C on `deno task train` stops every worker process it started", async () => {
  const root = new URL("../../", import.meta.url);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      new URL("deno.json", root).pathname,
      new URL("scripts/train.ts", root).pathname,
      "--problem",
      "bilinear",
      "--workers",
      "2",
      "--steps",
      "10000000",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const pids: number[] = [];
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/ring of 2 formed/.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  for (const m of text.matchAll(/started worker process (\d+)/g)) pids.push(Number(m[1]));
  assert.equal(pids.length, 2, text);
  assert.ok(pids.every(alive));
  child.kill("SIGINT");
  const st = await child.status;
  reader.releaseLock();
  await child.stdout.cancel().catch(() => {});
  await child.stderr.cancel();
  assert.equal(st.success, false);
  assert.ok(pids.every((p) => !alive(p)), "no worker process survives");
});
