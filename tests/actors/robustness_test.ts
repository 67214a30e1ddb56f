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

// Named: `auto` (the default) chooses by timing, and this compares separate runs bit for bit.
const job = jobConfig({
  problem: "bilinear",
  module: problemModule("bilinear"),
  collective: "allgather",
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
    collective: job.collective,
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

Deno.test("a wrong secret at the control port is refused, and both sides name each other as users would", async () => {
  const { acceptControl, joinControl } = await import("../../actors/control.ts");
  const { TcpAcceptor } = await import("../../runtime/transport/acceptor.ts");
  const refused: string[] = [];
  const acceptor = new TcpAcceptor(Deno.listen({ hostname: "127.0.0.1", port: 0 }), {
    log: (l) => refused.push(l),
  });
  const secret = new TextEncoder().encode("right");
  const accepting = acceptControl(acceptor, secret);
  accepting.catch(() => {});
  await assert.rejects(
    joinControl(`127.0.0.1:${acceptor.addr.port}`, new TextEncoder().encode("wrong"), 5_000),
    (e: Error) => /the supervisor/.test(e.message) && !/4294967/.test(e.message),
  );
  while (refused.length === 0) await new Promise((r) => setTimeout(r, 10));
  assert.match(refused[0], /refused a connection from 127\.0\.0\.1:\d+/);
  assert.doesNotMatch(refused[0], /4294967/);
  acceptor.close();
  await assert.rejects(accepting, /closed/);
});

/** The 4-worker job above without a crowd, for the kill -9 tests. */
async function supervised(
  kill: (sup: TrainingSupervisor, line: string | null, step: number) => boolean,
) {
  let killed = 0;
  const sup: TrainingSupervisor = new TrainingSupervisor({
    job,
    workers: 4,
    spawn: localWorkerCommand(),
    commitEvery: 50,
    log: (line) => {
      if (kill(sup, line, -1)) killed++;
    },
    onStep: (s) => {
      if (kill(sup, null, s.step)) killed++;
    },
  });
  const r = await sup.run();
  return { r, killed };
}

Deno.test("kill -9 during ring formation and during a commit: recovered, same parameters as undisturbed", async () => {
  const base = await new TrainingSupervisor({
    job,
    workers: 4,
    spawn: localWorkerCommand(),
    commitEvery: 50,
  }).run();
  // A worker process killed as soon as it starts, while the first ring forms.
  let started = 0;
  const forming = await supervised((_sup, line) => {
    const m = line && / started worker process (\d+)/.exec(line);
    if (!m || ++started !== 3) return false;
    Deno.kill(Number(m[1]), "SIGKILL");
    return true;
  });
  assert.equal(forming.killed, 1);
  assert.equal(forming.r.checksum, base.checksum);
  assert.equal(forming.r.replicas_agree, true);
  // A worker killed right after the command that asks for the commit of step 150.
  let once = false;
  const committing = await supervised((sup, _line, step) => {
    if (once || step !== 150) return false;
    once = true;
    Deno.kill(sup.workerPids[3], "SIGKILL");
    return true;
  });
  assert.equal(committing.killed, 1);
  assert.equal(committing.r.recoveries.length, 1);
  assert.ok([100, 150].includes(committing.r.recoveries[0].resumeStep));
  assert.equal(committing.r.checksum, base.checksum);
});

Deno.test("parseControl() turns any frame into a typed message or a TypeError naming what is wrong", async () => {
  const { parseControl, CONTROL_KINDS } = await import("../../actors/control.ts");
  const { Rng } = await import("../../runtime/rng.ts");
  const rng = new Rng(2024);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rng.nextFloat() * xs.length)];
  const kinds = [
    ...CONTROL_KINDS,
    "",
    "hello",
    "assign ",
    "__proto__",
    "constructor",
    "x".repeat(300),
  ];
  const bodies = [
    "",
    "{}",
    "[]",
    "null",
    "1",
    '"s"',
    "{",
    '{"epoch":1,"rank":0}',
    '{"__proto__":{"polluted":1}}',
    '{"epoch":"1e999"}',
    "\u0000",
  ];
  let typed = 0;
  for (let i = 0; i < 2_000; i++) {
    let json = pick(bodies);
    if (rng.nextFloat() < 0.3) {
      // Flip a byte of a valid body.
      const b = [...'{"epoch":3,"step":7,"rank":1}'];
      b[Math.floor(rng.nextFloat() * b.length)] = String.fromCharCode(rng.nextU32() & 0x7f);
      json = b.join("");
    }
    const kind = pick(kinds);
    try {
      const m = parseControl(kind, json);
      assert.ok((CONTROL_KINDS as readonly string[]).includes(m.kind));
      assert.equal(typeof m.body, "object");
      typed++;
    } catch (e) {
      assert.ok(e instanceof TypeError, `${kind} ${JSON.stringify(json)}: ${e}`);
      assert.match(
        (e as Error).message,
        /unknown control message kind|malformed JSON|not an object/,
      );
    }
  }
  assert.ok(typed > 100, `${typed} frames parsed`);
  assert.equal(({} as Record<string, unknown>).polluted, undefined, "no prototype pollution");
});

Deno.test("stop({ commit: true }) commits before it stops, and the run resumes from there bit-exactly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const small = jobConfig({ ...job, steps: 200 });
    const straight = await new TrainingSupervisor({ job: small, workers: 2, spawn: "inprocess" })
      .run();
    let stopped = -1;
    let last = -1;
    const sup: TrainingSupervisor = new TrainingSupervisor({
      job: small,
      workers: 2,
      spawn: "inprocess",
      commitDir: dir,
      commitEverySeconds: 3600, // only the stop's commit
      onStep: (s) => {
        last = s.step;
        if (s.step === 60 && stopped < 0) {
          stopped = s.step;
          sup.stop("interrupted", { commit: true });
        }
      },
    });
    await assert.rejects(sup.run(), /interrupted/);
    const commit = JSON.parse(await Deno.readTextFile(`${dir}/commit.json`));
    assert.equal(commit.step, stopped + 1, "the commit is the next step's");
    assert.ok(last <= commit.step, `stepped to ${last}, past the commit at ${commit.step}`);
    const resumed = await new TrainingSupervisor({
      job: small,
      workers: 2,
      spawn: "inprocess",
      resumeFrom: dir,
    }).run();
    assert.equal(resumed.checksum, straight.checksum);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("commitEverySeconds commits on a clock as well as every N steps", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await new TrainingSupervisor({
      job: jobConfig({ ...job, steps: 150 }),
      workers: 2,
      spawn: "inprocess",
      commitDir: dir,
      commitEverySeconds: 0.001,
    }).run();
    const commit = JSON.parse(await Deno.readTextFile(`${dir}/commit.json`));
    assert.ok(commit.step > 0 && commit.step <= 150, `committed step ${commit.step}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resuming from a folder without a commit, or from a file, is refused naming the path", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/notes.txt`;
  await Deno.writeTextFile(file, "x");
  try {
    const resume = (from: string) =>
      new TrainingSupervisor({ job, workers: 2, spawn: "inprocess", resumeFrom: from }).run();
    await assert.rejects(
      resume(`${dir}/missing`),
      (e: Error) =>
        e.message.includes(`cannot resume from ${dir}/missing: there is no commit.json there`),
    );
    await assert.rejects(
      resume(file),
      (e: Error) =>
        e.message.includes(`cannot resume from ${file}: it is a file, not a run folder`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a run whose steps are all skipped stops with an error naming the non-finite layer", async () => {
  const skipped: string[] = [];
  await assert.rejects(
    train({
      problem: new URL("./_user_problem.ts", import.meta.url),
      runtime: "inprocess",
      workers: 2,
      steps: 200,
      options: { nanAfter: 30 },
      maxSkippedInARow: 20,
      log: (l) => / skipped: /.test(l) && skipped.push(l),
    }),
    (e: Error) =>
      /the last 20 steps \(to step \d+\) were all skipped: non-finite values \(worker \d: NaN at user\/dense\d\/(kernel|bias)\[\d+\]\)/
        .test(e.message) && /lower the learning rate/.test(e.message),
  );
  assert.ok(skipped.length >= 20, `${skipped.length} skipped steps logged`);
});

Deno.test("a worker busy in a step longer than the heartbeat timeout is not declared dead (heartbeats on their own thread)", async () => {
  const r = await new TrainingSupervisor({
    job: jobConfig({
      problem: "blocking",
      module: new URL("./_user_problem.ts", import.meta.url).href,
      problemOptions: { blockAt: 20, blockMs: 5_000 },
      steps: 40,
      lr: 2,
      seed: 3,
    }),
    workers: 2,
    spawn: localWorkerCommand(),
    heartbeatTimeoutMs: 2_000, // a beat every second: twice that is room for a loaded machine
  }).run();
  assert.equal(r.recoveries.length, 0, JSON.stringify(r.recoveries));
  assert.equal(r.replicas_agree, true);
});
