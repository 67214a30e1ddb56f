// The one command-line module of scripts/: a flag table per command (name, type, default,
// help, validation) that yields both the `node:util` parseArgs options and the `--help` text,
// one UsageError, and one runCli() that every entry point runs through:
//
//   usage error  → `error: <message naming the flag and the value>`, exit 2
//   --help       → the help text on stdout, exit 0
//   failure      → `error: <message>`, exit 1
//
// Internal to scripts/: not re-exported by mod.ts.
import { parseArgs } from "node:util";
import { createQuantizer } from "../runtime/quant/registry.ts";
import { COLLECTIVE_HELP, COLLECTIVES, JOB_DEFAULTS } from "../actors/job.ts";
import { localWorkerCommand } from "../actors/launch.ts";
import { launchedSupervisorOptions, launchHost, rendezvousFromEnv } from "../actors/rendezvous.ts";
import type { TrainingSupervisorOptions } from "../actors/supervisor.ts";

/** A bad command line: runCli prints `error: <message>` and exits with code 2. */
export class UsageError extends Error {
  /** @param message What is wrong, naming the flag and the value. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What a flag's value is: text, a switch, an integer or any finite number. */
export type FlagType = "string" | "boolean" | "int" | "number";

/** One row of a flag table. */
export interface Flag {
  /** The value's type (every value is checked when the command line is parsed). */
  readonly type: FlagType;
  /** One line (or more) of help. */
  readonly help: string;
  /** The placeholder shown in the help (`--steps N`). @default {from the type or the choices} */
  readonly value?: string;
  /** The value when the flag is absent (absent and no default: `undefined`). */
  readonly default?: string | number | boolean | readonly (string | number)[];
  /** How the help shows a default that is computed (e.g. `"steps/10"`). */
  readonly defaultHelp?: string;
  /** The only values accepted (strings; each item of a list). */
  readonly choices?: readonly string[];
  /** Numbers: smallest value accepted (inclusive). */
  readonly min?: number;
  /** Numbers: largest value accepted (inclusive). */
  readonly max?: number;
  /** Numbers: the value must be greater than this. */
  readonly above?: number;
  /** A comma-separated list of values of `type`. */
  readonly list?: boolean;
  /** The flag must be given. */
  readonly required?: boolean;
  /** Further check of one value: what is wrong with it, or undefined when it is fine. */
  readonly check?: (value: string) => string | undefined;
  /** A heading the help prints before the first flag of a new group. */
  readonly group?: string;
}

/** A command's flags, by name (without the leading `--`), in help order. */
export type FlagTable = Readonly<Record<string, Flag>>;

type Scalar<F> = F extends { type: "boolean" } ? boolean
  : F extends { type: "int" | "number" } ? number
  : F extends { choices: readonly (infer C)[] } ? C
  : string;
type Value<F> = F extends { list: true } ? Scalar<F>[] : Scalar<F>;
type Always<F> = F extends { type: "boolean" } ? true
  : F extends { default: unknown } ? true
  : F extends { required: true } ? true
  : false;

/** The parsed values of a flag table (a flag without a default may be undefined). */
export type FlagValues<T extends FlagTable> = {
  -readonly [K in keyof T]: Always<T[K]> extends true ? Value<T[K]> : Value<T[K]> | undefined;
};

/** What {@linkcode parseFlags} returns. */
export interface Parsed<T extends FlagTable> {
  /** Every flag's value (defaults filled in). */
  values: FlagValues<T>;
  /** The flags given on the command line. */
  given: ReadonlySet<string>;
}

/** The `node:util` parseArgs options of a flag table. */
export function parseArgsOptions(
  table: FlagTable,
): Record<string, { type: "string" | "boolean" }> {
  return Object.fromEntries(
    Object.entries(table).map(([name, f]) => [
      name,
      { type: f.type === "boolean" ? "boolean" : "string" },
    ]),
  );
}

function describeRange(f: Flag): string {
  const what = f.type === "int" ? "an integer" : "a number";
  if (f.min !== undefined && f.max !== undefined) return `${what} in ${f.min}..${f.max}`;
  if (f.above !== undefined && f.max !== undefined) return `${what} in (${f.above}, ${f.max}]`;
  if (f.min !== undefined) return `${what} ≥ ${f.min}`;
  if (f.above !== undefined) return `${what} > ${f.above}`;
  if (f.max !== undefined) return `${what} ≤ ${f.max}`;
  return what;
}

function scalar(name: string, f: Flag, raw: string, whole: string): string | number {
  const flag = `--${name}`;
  if (f.choices && !f.choices.includes(raw)) {
    const what = raw !== whole ? `'${raw}' in '${whole}'` : `'${raw}'`;
    throw new UsageError(
      `${flag}: invalid value ${what}; valid choices: ${f.choices.join(", ")}`,
    );
  }
  let v: string | number = raw;
  if (f.type === "int" || f.type === "number") {
    const n = Number(raw);
    const ok = raw.trim() !== "" && Number.isFinite(n) &&
      (f.type !== "int" || Number.isInteger(n)) &&
      (f.min === undefined || n >= f.min) && (f.max === undefined || n <= f.max) &&
      (f.above === undefined || n > f.above);
    if (!ok) {
      const got = raw !== whole ? `'${raw}' in '${whole}'` : `'${raw}'`;
      throw new UsageError(`${flag}: expected ${describeRange(f)}, got ${got}`);
    }
    v = n;
  } else if (f.type === "string" && !f.choices && raw.trim() === "") {
    throw new UsageError(`${flag}: expected a value, got ''`);
  }
  const problem = f.check?.(raw);
  if (problem !== undefined) {
    throw new UsageError(
      `${flag}: ${problem}, got '${raw}'${raw !== whole ? ` in '${whole}'` : ""}`,
    );
  }
  return v;
}

/**
 * Parses `args` against `table` in strict mode: unknown flags, positional arguments, missing
 * values and every bad value are {@linkcode UsageError}s naming the flag and the value.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./_cli.ts";
 * const { values } = parseFlags(["--steps", "10"], {
 *   steps: { type: "int", min: 1, default: 100, help: "iterations" },
 *   json: { type: "boolean", help: "print JSON" },
 * } as const);
 * if (values.steps !== 10 || values.json !== false) throw new Error();
 * ```
 */
export function parseFlags<T extends FlagTable>(args: string[], table: T): Parsed<T> {
  let raw: Record<string, string | boolean | undefined>;
  try {
    raw = parseArgs({
      args,
      options: parseArgsOptions(table),
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw usageOfParseError(err, table);
  }
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  for (const [name, f] of Object.entries(table)) {
    const v = raw[name];
    if (v !== undefined) given.add(name);
    if (f.type === "boolean") {
      values[name] = v === true ? true : (f.default as boolean | undefined) ?? false;
      continue;
    }
    if (v === undefined) {
      if (f.required) throw new UsageError(`--${name} is required`);
      values[name] = Array.isArray(f.default) ? [...f.default] : f.default;
      continue;
    }
    const text = v as string;
    if (f.list) {
      const items = text.split(",").map((s) => s.trim());
      if (items.some((s) => s === "")) {
        throw new UsageError(`--${name}: empty item in '${text}'`);
      }
      values[name] = items.map((s) => scalar(name, f, s, text));
    } else values[name] = scalar(name, f, text, text);
  }
  return { values: values as FlagValues<T>, given };
}

function usageOfParseError(err: unknown, table: FlagTable): UsageError {
  const e = err as { code?: string; message?: string };
  const msg = String(e.message ?? err);
  const flag = /'(-[^' ]*)/.exec(msg)?.[1];
  const valid = `valid flags: ${Object.keys(table).map((f) => `--${f}`).join(", ")}`;
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(`unknown flag '${flag ?? msg}'; ${valid}`);
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(
        `unexpected argument '${/'([^']*)'/.exec(msg)?.[1] ?? msg}' ` +
          `(this command takes only flags); ${valid}`,
      );
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return new UsageError(
        msg.includes("does not take")
          ? `${flag} is a switch and takes no value`
          : msg.includes("ambiguous")
          ? `${flag}: a value starting with '-' must be written as ${flag}=<value>`
          : `${flag ?? msg} needs a value`,
      );
    default:
      return new UsageError(`${msg}; ${valid}`);
  }
}

function placeholder(f: Flag): string {
  if (f.type === "boolean") return "";
  if (f.value !== undefined) return f.value;
  if (f.choices) return f.choices.join("|");
  const one = f.type === "int" ? "N" : f.type === "number" ? "X" : "S";
  return f.list ? `${one}[,${one}…]` : one;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const para of text.split("\n")) {
    let line = "";
    for (const word of para.split(" ")) {
      if (line && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    lines.push(line);
  }
  return lines;
}

const LEFT = 26, WIDTH = 100;

/** The help lines of a flag table (one row per flag, groups under their headings). */
export function flagHelp(table: FlagTable): string[] {
  const out: string[] = [];
  let group: string | undefined;
  for (const [name, f] of Object.entries(table)) {
    if (f.group !== group) {
      group = f.group;
      if (group) out.push("", `${group}:`);
    }
    const value = placeholder(f);
    const left = `  --${name}${value ? ` ${value}` : ""}`;
    let text = f.help;
    const def = f.defaultHelp ??
      (f.default === undefined || f.type === "boolean"
        ? undefined
        : Array.isArray(f.default)
        ? f.default.join(",")
        : String(f.default));
    if (def !== undefined && def !== "") text += ` (default ${def})`;
    if (f.required) text += " (required)";
    const body = wrap(text, WIDTH - LEFT);
    if (left.length < LEFT) {
      out.push(`${left.padEnd(LEFT)}${body[0]}`);
    } else {
      out.push(left, `${"".padEnd(LEFT)}${body[0]}`);
    }
    for (const l of body.slice(1)) out.push(`${"".padEnd(LEFT)}${l}`);
  }
  return out;
}

/** A command's `--help` text: usage lines, what it does, the flags, then notes. */
export function helpText(
  o: { usage: string | readonly string[]; about: string; flags: FlagTable; notes?: string },
): string {
  const usage = typeof o.usage === "string" ? [o.usage] : o.usage;
  return [
    ...usage.map((u, i) => `${i === 0 ? "usage: " : "       "}${u}`),
    "",
    o.about,
    "",
    "flags:",
    ...flagHelp(o.flags),
    "",
    ...(o.notes ? [o.notes, ""] : []),
    "Exit codes: 0 success, 1 runtime error, 2 bad command line.",
  ].join("\n");
}

/** A command line: how to parse it, its help, and what it runs. */
export interface Command<C> {
  /** How the command is typed, for the hint after a usage error (`deno task quantize`). */
  readonly name: string;
  /** The help text. */
  help(): string;
  /** Parses and checks the arguments. @throws {UsageError} */
  parse(args: string[]): C;
  /** Runs the command; a number is the exit code (default 0). */
  run(cfg: C): Promise<number | void>;
}

/**
 * Runs a command line, the same way for every entry point: `--help` prints the help (0); a
 * {@linkcode UsageError} while parsing prints `error: <message>` and a hint (2); an error
 * while running prints `error: <message>` (1).
 *
 * @param args Command-line arguments.
 * @param command The command.
 * @returns The exit code.
 */
export async function runCli<C>(args: string[], command: Command<C>): Promise<number> {
  const end = args.indexOf("--");
  if ((end < 0 ? args : args.slice(0, end)).includes("--help")) {
    console.log(command.help());
    return 0;
  }
  let cfg: C;
  try {
    cfg = command.parse(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`error: ${err.message}`);
    console.error(`run \`${command.name} --help\` for every flag`);
    return 2;
  }
  try {
    return (await command.run(cfg)) ?? 0;
  } catch (err) {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

/**
 * The value of one flag in `args` without checking the others (a dispatcher's look at
 * `--problem` before the chosen command parses everything). Last one wins.
 */
export function peekFlag(args: string[], name: string): string | undefined {
  const { values } = parseArgs({
    args,
    options: { [name]: { type: "string" } },
    strict: false,
    allowPositionals: true,
  });
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

// ── flags shared by the training commands ────────────────────────────────────────────────

/** The `--help` flag every table lists. */
export const HELP_FLAG = {
  help: { type: "boolean", help: "print this help and exit" },
} as const satisfies FlagTable;

/** The `--collective` flag of the training commands, with the job default (`auto`). */
export const COLLECTIVE_FLAG = {
  collective: {
    type: "string",
    choices: COLLECTIVES,
    default: JOB_DEFAULTS.collective,
    help: COLLECTIVE_HELP,
  },
} as const satisfies FlagTable;

/**
 * How a run's summary names the collective that ran: `auto: <choice>` when `auto` chose it,
 * else the one that ran (`fp32` without compression).
 *
 * @example
 * ```ts
 * import { collectiveRan } from "./_cli.ts";
 * if (collectiveRan("auto", "fp32") !== "auto: fp32") throw new Error();
 * if (collectiveRan("ring", "ring") !== "ring") throw new Error();
 * ```
 */
export function collectiveRan(asked: string, ran: string): string {
  return asked === "auto" ? `auto: ${ran}` : ran;
}

/**
 * Checks that `--bits` suits `--quant` (a scheme may need ≥ 2 bits) by building the
 * quantizer the job would use.
 *
 * @throws {UsageError} Naming `--bits`, its value and the scheme.
 */
export function checkQuantFlags(quant: string, bits: number, bucket: number): void {
  try {
    createQuantizer({ scheme: quant, bits, bucketSize: bucket });
  } catch (e) {
    throw new UsageError(
      `--bits: invalid value '${bits}' for --quant ${quant}: ${(e as Error).message}`,
    );
  }
}

/** The runtime flags of the training commands (worker processes or in-process workers). */
export const RUNTIME_FLAGS = {
  runtime: {
    type: "string",
    choices: ["process", "inprocess"],
    default: "process",
    group: "runtime",
    help: "process: one worker process each, over TCP, under a supervisor in this process; " +
      "inprocess: every worker in this process over in-memory links (the same step loop and " +
      "supervisor: quick experiments)",
  },
  listen: {
    type: "string",
    value: "HOST:PORT",
    group: "runtime",
    defaultHelp: "127.0.0.1:0, any free port",
    help: "process runtime: the supervisor's control address",
  },
  secret: {
    type: "string",
    group: "runtime",
    help: "process runtime: shared secret of the control plane and the ring (or " +
      "QODA_RING_SECRET); required off loopback",
  },
  "remote-workers": {
    type: "boolean",
    group: "runtime",
    help: "process runtime: start no local workers; wait for --workers N processes started " +
      "with `deno task worker --join HOST:PORT --secret S`",
  },
  elastic: {
    type: "boolean",
    group: "runtime",
    help: "process runtime: when a worker dies, go on with fewer instead of starting a new one",
  },
  "heartbeat-ms": {
    type: "int",
    min: 100,
    default: 10000,
    group: "runtime",
    help: "a worker silent this long is declared dead",
  },
} as const satisfies FlagTable;

const PROCESS_ONLY = ["listen", "secret", "remote-workers", "elastic"] as const;

/** The runtime flags' values. */
export type RuntimeFlags = FlagValues<typeof RUNTIME_FLAGS>;

/**
 * Refuses the process-runtime flags with `--runtime inprocess`.
 *
 * @throws {UsageError} Naming the flag.
 */
export function checkRuntimeFlags(v: RuntimeFlags, given: ReadonlySet<string>): void {
  if (v.runtime !== "inprocess") return;
  const bad = PROCESS_ONLY.filter((f) => given.has(f));
  if (bad.length) {
    throw new UsageError(
      `--${bad[0]} is a process-runtime flag: it needs --runtime process (got --runtime inprocess)`,
    );
  }
}

/** The supervisor options that the runtime flags decide. */
export function supervisorOptions(
  v: RuntimeFlags,
  workers: number,
): Pick<
  TrainingSupervisorOptions,
  "workers" | "spawn" | "listen" | "secret" | "elastic" | "heartbeatTimeoutMs"
> {
  if (v.runtime === "inprocess") {
    return { workers, spawn: "inprocess", heartbeatTimeoutMs: v["heartbeat-ms"] };
  }
  // Started by a launcher: this is rank 0 (the other ranks run workers, see train.ts).
  const rv = rendezvousFromEnv(Deno.env.toObject());
  if (rv) {
    return {
      ...launchedSupervisorOptions(rv, launchHost(rv)),
      secret: v.secret ?? null,
      elastic: v.elastic,
      heartbeatTimeoutMs: v["heartbeat-ms"],
    };
  }
  return {
    workers,
    spawn: v["remote-workers"] ? null : localWorkerCommand(),
    listen: v.listen ?? "127.0.0.1:0",
    secret: v.secret ?? null,
    elastic: v.elastic,
    heartbeatTimeoutMs: v["heartbeat-ms"],
  };
}
