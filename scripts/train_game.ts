/**
 * `deno task train --problem bilinear|quadratic|linear|kelly …`: solves a
 * monotone game data-parallel with QODA (or Q-GenX, SGD, Adam), the workers'
 * operator samples exchanged through the compressed ring all-reduce.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runGame } from "../runtime/train/game_runner.ts";
import { SCHEMES } from "../runtime/quant/types.ts";

const PROBLEMS = ["bilinear", "quadratic", "linear", "kelly"] as const;
const OPTIMIZERS = ["qoda", "qgenx", "sgd", "adam"] as const;
const COLLECTIVES = ["allgather", "ring"] as const;

const HELP = `usage: deno task train --problem ${PROBLEMS.join("|")} [flags]

Solves a monotone variational inequality with known solution data-parallel: every worker
draws its own stochastic operator samples, they are quantized, exchanged through the ring
all-reduce (workers simulated in one process over an in-memory ring), and every replica
applies the same optimiser step. Prints progress, and with --json a final JSON line.

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
  --resume DIR        continue bit-exactly from DIR/commit.json (same flags required)
  --json              print a final JSON line (problem, optimizer, quant, steps, dist0, dist,
                      gap, collectives, bytes_sent, …)
  --quiet             no progress lines
  --help              this text

Exit codes: 0 success, 1 runtime error, 2 bad command line.`;

class Usage extends Error {}

function choice<T extends string>(flag: string, v: string, valid: readonly T[]): T {
  if (!(valid as readonly string[]).includes(v)) {
    throw new Usage(`${flag}: invalid value '${v}'; valid choices: ${valid.join(", ")}`);
  }
  return v as T;
}

function num(flag: string, v: string, opts: { int?: boolean; min?: number } = {}): number {
  const x = Number(v);
  if (!Number.isFinite(x) || (opts.int && !Number.isInteger(x)) || x < (opts.min ?? -Infinity)) {
    throw new Usage(
      `${flag}: expected ${opts.int ? "an integer" : "a number"}${
        opts.min !== undefined ? ` ≥ ${opts.min}` : ""
      }, got '${v}'`,
    );
  }
  return x;
}

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

if (import.meta.main) Deno.exit(await main(Deno.args));
