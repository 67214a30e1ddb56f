/**
 * `deno task bench:soak`: recovery under load. A run of N worker processes
 * (the bilinear game, layer-wise 4-bit, a commit every few steps) loses a
 * random worker to kill -9 at K random steps while background processes keep
 * every core busy; the same job runs once undisturbed, in the same run, as the
 * reference. Reports how many kills were recovered, whether the final
 * parameters are bit-identical to the undisturbed run, the time lost per kill
 * and each recovery's detection-to-ready time; the trace of every recovery
 * (its reason and the step it resumed after) shows what bounds it.
 *
 * Prints a table; `--json` prints one JSON object instead. Results are also
 * written to `bench-results/bench_soak.json` (or `--out FILE`).
 *
 * @module
 */
import { jobConfig } from "../actors/job.ts";
import { localWorkerCommand } from "../actors/launch.ts";
import { type RecoveryEvent, TrainingSupervisor } from "../actors/supervisor.ts";
import { problemModule } from "../models/registry.ts";
import { Rng } from "../runtime/rng.ts";
import {
  type Command,
  type FlagValues,
  HELP_FLAG,
  helpText,
  parseFlags,
  runCli,
  UsageError,
} from "./_cli.ts";
import { writeResults } from "./_run_folder.ts";

/** The flags of `deno task bench:soak`. */
export const BENCH_SOAK_FLAGS = {
  workers: { type: "int", min: 2, default: 4, help: "worker processes" },
  kills: { type: "int", min: 1, default: 20, help: "kill -9 of a random worker, at random steps" },
  steps: { type: "int", min: 10, default: 2000, help: "steps of the run" },
  "commit-every": { type: "int", min: 1, default: 25, help: "commit every this many steps" },
  load: {
    type: "int",
    min: 0,
    default: 2,
    help: "background processes that spin a core each during the runs",
  },
  dim: { type: "int", min: 2, default: 256, help: "dimension of the bilinear game" },
  seed: { type: "int", min: 0, default: 0, help: "seed of the job and of the kill schedule" },
  json: { type: "boolean", help: "one JSON object instead of the table" },
  out: {
    type: "string",
    value: "FILE",
    default: "bench-results/bench_soak.json",
    help: "also write the JSON here",
  },
  ...HELP_FLAG,
} as const;

type SoakCli = FlagValues<typeof BENCH_SOAK_FLAGS>;

/** What `bench:soak` measures. */
export interface SoakResult {
  workers: number;
  steps: number;
  kills: number;
  /** Kills after which the run went on (a recovery was recorded). */
  recovered: number;
  /** The final parameters equal the undisturbed run's. */
  bit_identical: boolean;
  undisturbed_s: number;
  soak_s: number;
  /** (soak − undisturbed) / kills. */
  lost_per_kill_s: number;
  /** Detection to the next epoch being ready, per recovery, ms. */
  recovery_ms: number[];
  /** The steps the kills were aimed at. */
  kill_steps: number[];
  load: number;
  recoveries: RecoveryEvent[];
}

/** `k` distinct steps in [10, steps − 10], sorted, from `rng`. */
export function killSchedule(k: number, steps: number, rng: Rng): number[] {
  const span = steps - 20;
  if (k > span) throw new RangeError(`${k} kills do not fit in ${steps} steps`);
  const chosen = new Set<number>();
  while (chosen.size < k) chosen.add(10 + Math.floor(rng.nextFloat() * span));
  return [...chosen].sort((a, b) => a - b);
}

async function run(cfg: SoakCli): Promise<number> {
  const job = jobConfig({
    problem: "bilinear",
    module: problemModule("bilinear"),
    problemOptions: { dim: cfg.dim, sigmaRel: 0.1 },
    collective: "allgather", // named: compared bit for bit with a separate run; auto times
    lr: 0.5,
    steps: cfg.steps,
    seed: cfg.seed,
    checksumEvery: 50,
    timeoutMs: 30_000,
  });
  const background = Array.from({ length: cfg.load }, () =>
    new Deno.Command(Deno.execPath(), {
      args: ["eval", "for (;;) {}"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn());
  const say = cfg.json ? () => {} : (l: string) => console.error(l);
  try {
    const supervise = (onStep?: (s: { step: number }, sup: TrainingSupervisor) => void) => {
      const sup: TrainingSupervisor = new TrainingSupervisor({
        job,
        workers: cfg.workers,
        spawn: localWorkerCommand(),
        commitEvery: cfg["commit-every"],
        // Budget for every planned kill, restarts spread over the run.
        policy: {
          strategy: "all-for-one",
          maxRestarts: cfg.kills + 2,
          withinMs: 3_600_000,
          backoff: { initialMs: 100, factor: 1, maxMs: 100 },
        },
        onStep: onStep && ((s) => onStep(s, sup)),
        log: (l) => /failed|giving up/.test(l) && say(l),
      });
      return sup.run();
    };
    say(`undisturbed: ${cfg.workers} workers, ${cfg.steps} steps, ${cfg.load} busy processes`);
    const u0 = performance.now();
    const undisturbed = await supervise();
    const undisturbedS = (performance.now() - u0) / 1000;
    const schedule = killSchedule(cfg.kills, cfg.steps, new Rng(cfg.seed + 1));
    const pick = new Rng(cfg.seed + 2);
    const done = new Set<number>();
    say(`soak: kill -9 at steps ${schedule.join(", ")}`);
    const s0 = performance.now();
    const soak = await supervise((s, sup) => {
      // A kill is aimed at a step; after a recovery the run passes it again, so once only.
      const target = schedule.find((t) => t === s.step && !done.has(t));
      if (target === undefined) return;
      const pids = sup.workerPids;
      if (pids.length === 0) return;
      done.add(target);
      const victim = pids[Math.floor(pick.nextFloat() * pids.length)];
      say(`step ${s.step}: kill -9 ${victim}`);
      try {
        Deno.kill(victim, "SIGKILL");
      } catch {
        // already gone
      }
    });
    const soakS = (performance.now() - s0) / 1000;
    const r: SoakResult = {
      workers: cfg.workers,
      steps: cfg.steps,
      kills: done.size,
      recovered: soak.recoveries.length,
      bit_identical: soak.checksum === undisturbed.checksum,
      undisturbed_s: undisturbedS,
      soak_s: soakS,
      lost_per_kill_s: done.size ? (soakS - undisturbedS) / done.size : 0,
      recovery_ms: soak.recoveries.map((e) => Math.round(e.recoveryMs ?? NaN)),
      kill_steps: schedule,
      load: cfg.load,
      recoveries: soak.recoveries,
    };
    await writeResults(cfg.out, r);
    if (cfg.json) console.log(JSON.stringify(r));
    else {
      const ms = r.recovery_ms.filter(Number.isFinite).sort((a, b) => a - b);
      console.log(
        [
          `| workers | kills | recovered | bit-identical | undisturbed | soak | lost per kill | recovery (median, max) |`,
          `| --- | --- | --- | --- | --- | --- | --- | --- |`,
          `| ${r.workers} | ${r.kills} | ${r.recovered} | ${r.bit_identical ? "yes" : "NO"} | ` +
          `${r.undisturbed_s.toFixed(1)} s | ${r.soak_s.toFixed(1)} s | ` +
          `${r.lost_per_kill_s.toFixed(2)} s | ${ms[ms.length >> 1] ?? "-"} ms, ${
            ms.at(-1) ?? "-"
          } ms |`,
        ].join("\n"),
      );
    }
    return r.recovered === r.kills && r.bit_identical ? 0 : 1;
  } finally {
    for (const b of background) {
      try {
        b.kill("SIGKILL");
      } catch {
        // gone
      }
      await b.status;
    }
  }
}

/** The `bench:soak` command line. */
export const BENCH_SOAK_COMMAND: Command<SoakCli> = {
  name: "deno task bench:soak",
  help: () =>
    helpText({
      usage: "deno task bench:soak [flags]",
      about: "Kills random workers of a running job and checks that every kill is recovered " +
        "and the result is bit-identical to an undisturbed run of the same job.",
      flags: BENCH_SOAK_FLAGS,
    }),
  parse: (args) => {
    const v = parseFlags(args, BENCH_SOAK_FLAGS).values;
    if (v.kills > v.steps - 20) {
      throw new UsageError(
        `--kills ${v.kills} do not fit in --steps ${v.steps} (at most steps − 20)`,
      );
    }
    return v;
  },
  run,
};

/** Runs the benchmark; returns the exit code (1 when a kill was not recovered). */
export function main(args: string[]): Promise<number> {
  return runCli(args, BENCH_SOAK_COMMAND);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
