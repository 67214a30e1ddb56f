/**
 * `deno task train --problem bilinear|quadratic|linear|kelly …`: solves a
 * monotone game data-parallel with QODA (or Q-GenX, SGD, Adam), the workers'
 * operator samples exchanged through the compressed ring all-reduce.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  choice,
  num,
  PROCESS_FLAG_OPTIONS,
  PROCESS_FLAGS_HELP,
  type ProcessFlags,
  processFlags,
  processOptions,
  Usage,
} from "./_flags.ts";
import { runGame } from "../models/game_runner.ts";
import { SCHEMES } from "../runtime/quant/types.ts";
import { gameProblem } from "../models/game_problem.ts";
import { supervise } from "../actors/launch.ts";
import { jobConfig } from "../actors/job.ts";
import { problemModule } from "../models/registry.ts";

const PROBLEMS = ["bilinear", "quadratic", "linear", "kelly"] as const;
const OPTIMIZERS = ["qoda", "qgenx", "sgd", "adam"] as const;
const COLLECTIVES = ["allgather", "ring"] as const;
const RUNTIMES = ["process", "inprocess"] as const;

const HELP = `usage: deno task train --problem ${PROBLEMS.join("|")} [flags]

Solves a monotone variational inequality with known solution data-parallel: every worker
(one process each, by default) draws its own stochastic operator samples, they are quantized
and exchanged through the TCP ring all-reduce, and every replica applies the same optimiser
step; a supervisor in this process owns QODA's step sizes, level tables and commits, and
restarts a worker that dies. Prints progress, and with --json a final JSON line.

flags:
  --problem P         ${PROBLEMS.join(" | ")} (required)
  --workers N         number of workers (default 4)
  --optimizer O       ${OPTIMIZERS.join(" | ")} (default qoda)
  --quant S           ${SCHEMES.join(" | ")} (default layerwise)
  --bits B            quantizer bits (default 4)
  --bucket N          quantizer bucket size (default 1024)
  --collective C      allgather (each message decoded once, as QODA's analysis assumes)
                      | ring (CGX: partial sums re-quantized) (default allgather)
  --steps N           iterations (default 2000)
  --lr X              base learning rate (default 0.5)
  --sigma-abs X       absolute oracle noise σ_abs (default 0)
  --sigma-rel X       relative oracle noise σ_rel (default 0)
  --dim N             problem dimension where it applies (default: the problem's own)
  --seed N            seed of data, noise and rounding (default 0)
  --eval-every N      progress every N steps (default steps/10)
  --out DIR           write DIR/config.json and DIR/metrics.jsonl (and commits)
  --commit-every N    write DIR/commit.json (atomically) every N steps; needs --out
  --resume DIR        continue bit-exactly from DIR/commit.json (same flags required;
                      --steps may grow)
  --inject-nan R:K    testing aid: worker R returns NaN in its K-th oracle call (the step is
                      skipped by every rank, agreed through the supervisor)
${PROCESS_FLAGS_HELP}
  --json              print a final JSON line (problem, optimizer, quant, steps, dist0, dist,
                      gap, collectives, bytes_sent, …)
  --quiet             no progress lines
  --help              this text

Exit codes: 0 success, 1 runtime error, 2 bad command line.`;

/**
 * Runs the game CLI.
 * @param args Command-line arguments (including `--problem`).
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  let cfg;
  try {
    const { values: a } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        problem: { type: "string" },
        workers: { type: "string", default: "4" },
        optimizer: { type: "string", default: "qoda" },
        quant: { type: "string", default: "layerwise" },
        bits: { type: "string", default: "4" },
        bucket: { type: "string", default: "1024" },
        collective: { type: "string", default: "allgather" },
        steps: { type: "string", default: "2000" },
        lr: { type: "string", default: "0.5" },
        "sigma-abs": { type: "string", default: "0" },
        "sigma-rel": { type: "string", default: "0" },
        dim: { type: "string" },
        seed: { type: "string", default: "0" },
        "eval-every": { type: "string" },
        out: { type: "string" },
        "commit-every": { type: "string", default: "0" },
        resume: { type: "string" },
        "inject-nan": { type: "string" },
        ...PROCESS_FLAG_OPTIONS,
        json: { type: "boolean", default: false },
        quiet: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    });
    if (a.help) {
      console.log(HELP);
      return 0;
    }
    if (a.problem === undefined) throw new Usage(`--problem is required: ${PROBLEMS.join(", ")}`);
    if (a.runtime === "inprocess" && (a["remote-workers"] || a.elastic || a["inject-nan"])) {
      throw new Usage("--remote-workers, --elastic and --inject-nan need --runtime process");
    }
    if (Number(a["commit-every"]) > 0 && a.out === undefined) {
      throw new Usage("--commit-every needs --out DIR (where commit.json is written)");
    }
    cfg = {
      problem: choice("--problem", a.problem, PROBLEMS),
      workers: num("--workers", a.workers!, { int: true, min: 1 }),
      optimizer: choice("--optimizer", a.optimizer!, OPTIMIZERS),
      quant: choice("--quant", a.quant!, SCHEMES),
      bits: num("--bits", a.bits!, { int: true, min: 1 }),
      bucket: num("--bucket", a.bucket!, { int: true, min: 1 }),
      collective: choice("--collective", a.collective!, COLLECTIVES),
      steps: num("--steps", a.steps!, { int: true, min: 1 }),
      lr: num("--lr", a.lr!, { min: 0 }),
      sigmaAbs: num("--sigma-abs", a["sigma-abs"]!, { min: 0 }),
      sigmaRel: num("--sigma-rel", a["sigma-rel"]!, { min: 0 }),
      dim: a.dim === undefined ? undefined : num("--dim", a.dim, { int: true, min: 1 }),
      seed: num("--seed", a.seed!, { int: true, min: 0 }),
      evalEvery: a["eval-every"] === undefined
        ? undefined
        : num("--eval-every", a["eval-every"], { int: true, min: 1 }),
      out: a.out,
      commitEvery: num("--commit-every", a["commit-every"]!, { int: true, min: 0 }),
      resumeFrom: a.resume,
      nanAt: a["inject-nan"] === undefined ? undefined : nanSpec(a["inject-nan"]),
      runtime: choice("--runtime", a.runtime!, RUNTIMES),
      ...processFlags(a),
      json: a.json!,
      quiet: a.quiet!,
    };
  } catch (e) {
    const msg = (e as Error).message.replace(/^Unknown option/, "unknown flag");
    console.error(`error: ${msg}`);
    console.error("run `deno task train --problem bilinear --help` for every flag");
    return 2;
  }
  const say = (line: string) => {
    if (!cfg.quiet) console.log(line);
  };
  if (cfg.runtime === "process") return await runProcesses(cfg, say);
  try {
    say(
      `${cfg.problem}: ${cfg.workers} workers (in one process), ${cfg.optimizer}, ` +
        `${cfg.quant}${cfg.quant === "none" ? "" : ` ${cfg.bits}-bit`} via ${cfg.collective}, ` +
        `${cfg.steps} steps, lr ${cfg.lr}, noise abs ${cfg.sigmaAbs} rel ${cfg.sigmaRel}`,
    );
    const lines: string[] = [];
    const result = await runGame({
      ...cfg,
      commitDir: cfg.out,
      onEval: (e) => {
        lines.push(JSON.stringify(e));
        say(
          `step ${String(e.step).padStart(String(cfg.steps).length)}  dist ${
            e.dist.toExponential(3)
          }  ` +
            `gap ${e.gap.toExponential(3)}  collectives ${e.collectives}  ` +
            `${(e.bytesSent / 1e6).toFixed(2)} MB sent`,
        );
      },
    });
    if (cfg.out) {
      await Deno.mkdir(cfg.out, { recursive: true });
      await Deno.writeTextFile(`${cfg.out}/config.json`, JSON.stringify(cfg, null, 2) + "\n");
      await Deno.writeTextFile(`${cfg.out}/metrics.jsonl`, lines.join("\n") + "\n");
    }
    say(
      `done: ‖z − z*‖ ${result.dist0.toExponential(3)} → ${result.dist.toExponential(3)} ` +
        `(${(result.dist0 / Math.max(result.dist, 1e-300)).toPrecision(3)}× closer), gap ` +
        `${result.gap.toExponential(3)}, ${result.collectives} collectives, ` +
        `${(result.bytes_sent / 1e6).toFixed(2)} MB sent, replicas agree: ${result.replicas_agree}`,
    );
    if (cfg.json) console.log(JSON.stringify(result));
    return 0;
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 1;
  }
}

function nanSpec(v: string): { rank: number; call: number } {
  const m = /^(\d+):(\d+)$/.exec(v);
  if (!m || Number(m[2]) < 1) {
    throw new Usage(`--inject-nan: expected RANK:CALL (e.g. 1:50), got '${v}'`);
  }
  return { rank: Number(m[1]), call: Number(m[2]) };
}

type GameCli = ProcessFlags & {
  problem: string;
  workers: number;
  optimizer: (typeof OPTIMIZERS)[number];
  quant: string;
  bits: number;
  bucket: number;
  collective: (typeof COLLECTIVES)[number];
  steps: number;
  lr: number;
  sigmaAbs: number;
  sigmaRel: number;
  dim?: number;
  seed: number;
  evalEvery?: number;
  out?: string;
  commitEvery: number;
  resumeFrom?: string;
  nanAt?: { rank: number; call: number };
  runtime: (typeof RUNTIMES)[number];
  quiet: boolean;
  json: boolean;
};

/** The game on worker processes under a supervisor. */
async function runProcesses(cfg: GameCli, say: (line: string) => void): Promise<number> {
  const problemOptions: Record<string, unknown> = {
    sigmaAbs: cfg.sigmaAbs,
    sigmaRel: cfg.sigmaRel,
  };
  if (cfg.dim !== undefined) problemOptions.dim = cfg.dim;
  if (cfg.nanAt) problemOptions.nanAt = cfg.nanAt;
  const job = jobConfig({
    problem: cfg.problem,
    module: problemModule(cfg.problem),
    problemOptions,
    optimizer: cfg.optimizer,
    lr: cfg.lr,
    quant: cfg.quant,
    bits: cfg.bits,
    bucket: cfg.bucket,
    collective: cfg.collective,
    steps: cfg.steps,
    seed: cfg.seed,
  });
  const evalEvery = cfg.evalEvery ?? Math.max(1, Math.floor(cfg.steps / 10));
  const records: Record<string, number>[] = [];
  let bytes = 0, collectives = 0;
  try {
    say(
      `${cfg.problem}: ${cfg.workers} worker processes, ${cfg.optimizer}, ` +
        `${cfg.quant}${cfg.quant === "none" ? "" : ` ${cfg.bits}-bit`} via ${cfg.collective}, ` +
        `${cfg.steps} steps, lr ${cfg.lr}, noise abs ${cfg.sigmaAbs} rel ${cfg.sigmaRel}`,
    );
    const r = await supervise({
      job,
      ...processOptions(cfg.workers, cfg),
      evalEvery,
      commitEvery: cfg.commitEvery,
      commitDir: cfg.out,
      resumeFrom: cfg.resumeFrom,
      log: (l) => say(l),
      onStep: (s) => {
        bytes += s.bytesSent;
        collectives += s.collectives;
        if (s.skip) {
          say(`step ${s.step}: skipped by every rank (non-finite on rank ${s.nonFiniteRanks})`);
        }
      },
      onEval: (e) => {
        const rec = { step: e.step, ...e.metrics, bytesSent: bytes, collectives };
        records.push(rec);
        say(
          `step ${String(e.step).padStart(String(cfg.steps).length)}  dist ${
            e.metrics.dist.toExponential(3)
          }  gap ${e.metrics.gap.toExponential(3)}`,
        );
      },
      onRecovery: (ev) =>
        say(
          `recovery: epoch ${ev.epoch} failed (${ev.reason}); resuming after step ${ev.resumeStep} with ${ev.size} workers`,
        ),
    }, (address) => {
      if (cfg.remoteWorkers) {
        say(
          `waiting for ${cfg.workers} workers: deno task worker --join ${address}${
            cfg.secret ? " --secret …" : ""
          }`,
        );
      }
    });
    const dist0 = gameProblem({ problem: cfg.problem, dim: cfg.dim, seed: cfg.seed }).dist0;
    records.push({
      step: r.steps,
      ...r.metrics,
      bytesSent: r.bytes_sent,
      collectives: r.collectives,
    });
    records.sort((a, b) => a.step - b.step);
    if (cfg.out) {
      await Deno.mkdir(cfg.out, { recursive: true });
      await Deno.writeTextFile(
        `${cfg.out}/config.json`,
        JSON.stringify({ ...cfg, job }, null, 2) + "\n",
      );
      await Deno.writeTextFile(
        `${cfg.out}/metrics.jsonl`,
        records.map((x) => JSON.stringify(x)).join("\n") + "\n",
      );
    }
    const result = {
      problem: cfg.problem,
      optimizer: cfg.optimizer,
      quant: cfg.quant,
      bits: cfg.quant === "none" ? 32 : cfg.bits,
      collective: cfg.collective,
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
        `${result.gap.toExponential(3)}, ${result.collectives} collectives, ` +
        `${(result.bytes_sent / 1e6).toFixed(2)} MB sent, skipped ${result.skipped}, ` +
        `replicas agree: ${result.replicas_agree}, recoveries ${result.recoveries}`,
    );
    if (cfg.json) console.log(JSON.stringify(result));
    return 0;
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
