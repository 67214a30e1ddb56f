/**
 * `deno task train --problem bilinear|quadratic|linear|kelly …`: solves a
 * monotone game data-parallel with QODA (or Q-GenX, SGD, Adam) on the one
 * training runtime: worker processes over the TCP ring (`--runtime process`,
 * the default) or every worker in this process over in-memory links
 * (`--runtime inprocess`), the same step loop and supervisor either way, so
 * both give bit-identical parameters.
 *
 * @module
 */
import {
  checkQuantFlags,
  checkRuntimeFlags,
  COLLECTIVE_FLAG,
  collectiveRan,
  type Command,
  type FlagTable,
  type FlagValues,
  HELP_FLAG,
  helpText,
  parseFlags,
  runCli,
  RUNTIME_FLAGS,
  supervisorOptions,
  UsageError,
} from "./_cli.ts";
import { checkOutFlag, RunFolder } from "./_run_folder.ts";
import { Progress } from "./_progress.ts";
import { SCHEMES } from "../runtime/quant/types.ts";
import { OPTIMIZER_NAMES } from "../runtime/optim/types.ts";
import { CODERS } from "../runtime/coding/codec.ts";
import { gameProblem } from "../models/game_problem.ts";
import { GAME_NAMES } from "../models/games.ts";
import { supervise } from "../actors/launch.ts";
import { type JobConfig, jobConfig } from "../actors/job.ts";
import { problemModule } from "../models/registry.ts";

/** The flags of `deno task train --problem <game>`. */
export const GAME_FLAGS = {
  problem: { type: "string", choices: GAME_NAMES, required: true, help: "the game" },
  workers: { type: "int", min: 1, default: 4, help: "number of workers" },
  optimizer: { type: "string", choices: OPTIMIZER_NAMES, default: "qoda", help: "optimiser" },
  quant: {
    type: "string",
    choices: SCHEMES,
    default: "layerwise",
    help: "quantizer of the exchanged operator samples",
  },
  bits: { type: "int", min: 1, max: 16, default: 4, help: "quantizer bits" },
  bucket: { type: "int", min: 1, default: 1024, help: "quantizer bucket size" },
  ...COLLECTIVE_FLAG,
  coder: { type: "string", choices: CODERS, default: "fixed", help: "coder of the messages" },
  steps: { type: "int", min: 1, default: 2000, help: "iterations" },
  lr: { type: "number", above: 0, default: 0.5, help: "base learning rate" },
  "sigma-abs": { type: "number", min: 0, default: 0, help: "absolute oracle noise σ_abs" },
  "sigma-rel": { type: "number", min: 0, default: 0, help: "relative oracle noise σ_rel" },
  dim: {
    type: "int",
    min: 1,
    defaultHelp: "the problem's own",
    help: "problem dimension, where the problem allows it",
  },
  seed: { type: "int", min: 0, default: 0, help: "seed of the game, noise and rounding" },
  "eval-every": {
    type: "int",
    min: 1,
    defaultHelp: "steps/10",
    help: "evaluate (progress line, metrics line) every N steps",
  },
  out: {
    type: "string",
    value: "DIR",
    help: "run folder: DIR/config.json, DIR/metrics.jsonl and the commits (default: none)",
  },
  "commit-every": {
    type: "int",
    min: 0,
    default: 0,
    help: "write DIR/commit.json (atomically) every N steps; needs --out",
  },
  resume: {
    type: "string",
    value: "DIR",
    help: "continue bit-exactly from DIR/commit.json (same flags required; --steps may grow)",
  },
  "inject-nan": {
    type: "string",
    value: "R:K",
    check: (v) =>
      /^\d+:[1-9]\d*$/.test(v) ? undefined : "expected RANK:CALL with CALL ≥ 1 (e.g. 1:50)",
    help: "testing aid: worker R returns NaN in its K-th oracle call (the step is skipped by " +
      "every rank, agreed through the supervisor)",
  },
  ...RUNTIME_FLAGS,
  json: {
    type: "boolean",
    group: "output",
    help: "print a final JSON line (problem, optimizer, quant, steps, dist0, dist, gap, " +
      "collectives, bytes_sent, …)",
  },
  quiet: { type: "boolean", group: "output", help: "no progress lines" },
  help: { ...HELP_FLAG.help, group: "output" },
} as const satisfies FlagTable;

type GameFlags = FlagValues<typeof GAME_FLAGS>;

/** A parsed game command line. */
export interface GameCli {
  flags: GameFlags;
  job: JobConfig;
  evalEvery: number;
  nanAt?: { rank: number; call: number };
}

/** The `--help` text. */
export function gameHelp(): string {
  return helpText({
    usage: `deno task train --problem ${GAME_NAMES.join("|")} [flags]`,
    about:
      "Solves a monotone variational inequality with known solution data-parallel: every worker\n" +
      "draws its own stochastic operator samples, they are quantized and all-reduced, and every\n" +
      "replica applies the same optimiser step; a supervisor owns QODA's step sizes, level\n" +
      "tables and commits, and restarts a worker process that dies. Prints progress, and with\n" +
      "--json a final JSON line.",
    flags: GAME_FLAGS,
  });
}

/**
 * Parses a game command line.
 * @throws {UsageError} Naming the bad flag and value.
 */
export function parseGameArgs(args: string[]): GameCli {
  const { values: v, given } = parseFlags(args, GAME_FLAGS);
  checkRuntimeFlags(v, given);
  checkQuantFlags(v.quant, v.bits, v.bucket);
  checkOutFlag(v.out);
  if (v["commit-every"] > 0 && v.out === undefined) {
    throw new UsageError("--commit-every needs --out DIR (where commit.json is written)");
  }
  const problemOptions: Record<string, unknown> = {
    sigmaAbs: v["sigma-abs"],
    sigmaRel: v["sigma-rel"],
  };
  if (v.dim !== undefined) problemOptions.dim = v.dim;
  let nanAt: GameCli["nanAt"];
  if (v["inject-nan"] !== undefined) {
    const [rank, call] = v["inject-nan"].split(":").map(Number);
    if (rank >= v.workers) {
      throw new UsageError(
        `--inject-nan: rank ${rank} in '${v["inject-nan"]}' is not below --workers ${v.workers}`,
      );
    }
    nanAt = { rank, call };
    problemOptions.nanAt = nanAt;
  }
  const job = jobConfig({
    problem: v.problem,
    module: problemModule(v.problem),
    problemOptions,
    optimizer: v.optimizer,
    lr: v.lr,
    quant: v.quant,
    bits: v.bits,
    bucket: v.bucket,
    collective: v.collective,
    coder: v.coder,
    steps: v.steps,
    seed: v.seed,
  });
  return {
    flags: v,
    job,
    evalEvery: v["eval-every"] ?? Math.max(1, Math.floor(v.steps / 10)),
    nanAt,
  };
}

/** Runs a parsed game command line; returns the exit code. */
async function runGameCli(cfg: GameCli): Promise<number> {
  const { flags: v, job } = cfg;
  // One line redrawn in place on a terminal; the evaluation lines are the plain output.
  const progress = new Progress({ total: v.steps, quiet: v.quiet, fromFirstTick: true });
  const say = (line: string) => progress.log(line);
  let lastDist = "";
  const folder = v.out === undefined
    ? null
    : await RunFolder.create({ out: v.out, resumeFrom: v.resume });
  await folder?.writeConfig({ flags: v, job, evalEvery: cfg.evalEvery });
  const where = v.runtime === "inprocess" ? "workers in this process" : "worker processes";
  say(
    `${v.problem}: ${v.workers} ${where}, ${v.optimizer}, ` +
      `${v.quant}${v.quant === "none" ? "" : ` ${v.bits}-bit`} via ${v.collective}, ` +
      `${v.steps} steps, lr ${v.lr}, noise abs ${v["sigma-abs"]} rel ${v["sigma-rel"]}`,
  );
  // Running totals by step (evaluations arrive after the step they evaluate).
  const totals = new Map<number, { bytes: number; collectives: number }>();
  let bytes = 0, collectives = 0;
  let r: Awaited<ReturnType<typeof supervise>>;
  try {
    r = await supervise({
      job,
      ...supervisorOptions(v, v.workers),
      evalEvery: cfg.evalEvery,
      commitEvery: v["commit-every"],
      commitDir: folder?.dir,
      resumeFrom: v.resume,
      log: say,
      onStep: (s) => {
        bytes += s.bytesSent;
        collectives += s.collectives;
        totals.set(s.step, { bytes, collectives });
        progress.tick(s.step, lastDist);
        if (s.skip) {
          say(`step ${s.step}: skipped by every rank (non-finite on rank ${s.nonFiniteRanks})`);
        }
      },
      onEval: (e) => {
        const t = totals.get(e.step);
        totals.delete(e.step);
        lastDist = `dist ${e.metrics.dist.toExponential(2)}  gap ${e.metrics.gap.toExponential(2)}`;
        folder?.appendMetrics({
          step: e.step,
          ...e.metrics,
          bytes_sent: t?.bytes ?? 0,
          collectives: t?.collectives ?? 0,
        });
        say(
          `step ${String(e.step).padStart(String(v.steps).length)}  dist ${
            e.metrics.dist.toExponential(3)
          }  gap ${e.metrics.gap.toExponential(3)}` +
            (t ? `  collectives ${t.collectives}  ${(t.bytes / 1e6).toFixed(2)} MB sent` : ""),
        );
      },
      onRecovery: (ev) =>
        say(
          `recovery: epoch ${ev.epoch} failed (${ev.reason}); resuming after step ${ev.resumeStep} with ${ev.size} workers`,
        ),
    }, (address) => {
      if (v.runtime === "process" && v["remote-workers"]) {
        say(
          `waiting for ${v.workers} workers: deno task worker --join ${address}${
            v.secret ? " --secret …" : ""
          }`,
        );
      }
    });
  } finally {
    progress.done();
  }
  const dist0 = gameProblem({ problem: v.problem, dim: v.dim, seed: v.seed }).dist0;
  folder?.appendMetrics({
    step: r.steps,
    ...r.metrics,
    bytes_sent: r.bytes_sent,
    collectives: r.collectives,
    final: true,
  });
  const result = {
    problem: v.problem,
    runtime: v.runtime,
    optimizer: v.optimizer,
    quant: v.quant,
    bits: v.quant === "none" ? 32 : v.bits,
    collective: v.collective,
    collective_used: r.collective_used,
    transport: r.transport,
    workers: r.workers,
    steps: r.steps,
    dist0,
    dist: r.metrics.dist,
    gap: r.metrics.gap,
    collectives: r.collectives,
    bytes_sent: r.bytes_sent,
    skipped: r.skipped,
    replicas_agree: r.replicas_agree,
    checksum: r.checksum,
    recoveries: r.recoveries.length,
    step_ms: r.step_ms,
    control_ms: r.control_ms,
    control_critical_ms: r.control_critical_ms,
    control_overhead: r.control_overhead,
    seconds: r.seconds,
  };
  say(
    `done: ‖z − z*‖ ${dist0.toExponential(3)} → ${result.dist.toExponential(3)}, gap ` +
      `${result.gap.toExponential(3)}, ${result.collectives} collectives ` +
      `(${collectiveRan(v.collective, result.collective_used)}), ` +
      `${(result.bytes_sent / 1e6).toFixed(2)} MB sent, skipped ${result.skipped}, ` +
      `replicas agree: ${result.replicas_agree}, recoveries ${result.recoveries}` +
      (folder ? `; wrote ${folder.dir}/` : ""),
  );
  if (v.json) console.log(JSON.stringify(result));
  return 0;
}

/** The game command. */
export const GAME_COMMAND: Command<GameCli> = {
  name: "deno task train --problem bilinear",
  help: gameHelp,
  parse: parseGameArgs,
  run: runGameCli,
};

/**
 * Runs the game CLI.
 * @param args Command-line arguments (including `--problem`).
 * @returns The exit code.
 */
export function main(args: string[]): Promise<number> {
  return runCli(args, GAME_COMMAND);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
