// The one run-folder writer of the training commands: `runs/<stamp>/` (a new, unique folder)
// or `--out DIR`, its config.json, its metrics.jsonl (one writer: steps only go forward) and
// the paths of its artefacts (checkpoint/, samples.png, report.html, commit.json); and the one
// writer of the bench:* commands' results files (`writeResults`).
//
// Internal to scripts/.
import { nativeKernelStatus } from "../runtime/kernels/native.ts";
import { readCommit } from "../actors/commit.ts";
import type { StepSummary } from "../actors/supervisor.ts";
import { UsageError } from "./_cli.ts";

/** The files and folders a run folder may hold, by role. */
export const ARTEFACTS = {
  config: "config.json",
  metrics: "metrics.jsonl",
  checkpoint: "checkpoint",
  samples: "samples.png",
  report: "report.html",
  commit: "commit.json",
} as const;

/** One line of metrics.jsonl: a step and its figures. */
export type MetricsRecord = { step: number } & Record<string, unknown>;

/**
 * Checks `--out` while the command line is parsed: an existing path that is not a folder is
 * refused before anything starts.
 *
 * @throws {UsageError} Naming `--out` and the path.
 */
export function checkOutFlag(out: string | undefined): void {
  if (out === undefined) return;
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(out);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw new UsageError(`--out: cannot use '${out}': ${(e as Error).message}`);
  }
  if (!info.isDirectory) {
    throw new UsageError(`--out: '${out}' exists and is not a folder`);
  }
}

/** Options of {@linkcode RunFolder.create}. */
export interface RunFolderOptions {
  /** The folder (`--out`); undefined: a new `runs/<stamp>` folder. */
  out?: string;
  /** Where stamped folders go. @default {"runs"} */
  root?: string;
  /**
   * The run resumes from `DIR/commit.json`: metrics.jsonl keeps its lines up to the commit's
   * step (later ones are run again) instead of starting empty.
   */
  resumeFrom?: string;
}

/** A run's folder: where each artefact goes, config.json and the metrics writer. */
export class RunFolder {
  /** The folder, without a trailing slash. */
  readonly dir: string;
  #lastStep = -Infinity;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Makes the folder: `out` (created with its parents; an existing path that is not a folder
   * is refused), or a new `root/<UTC stamp>` (`-2`, `-3`, … when that name is taken). A fresh
   * run starts metrics.jsonl empty; a resumed one keeps the lines up to its commit.
   */
  static async create(options: RunFolderOptions = {}): Promise<RunFolder> {
    let resumeStep: number | null = null;
    if (options.resumeFrom !== undefined) {
      let commit: { step?: unknown };
      try {
        commit = await readCommit(options.resumeFrom) as { step?: unknown };
      } catch (e) {
        throw new Error(
          `cannot resume from ${options.resumeFrom}: ${(e as Error).message}`,
          { cause: e },
        );
      }
      if (typeof commit?.step !== "number") {
        throw new Error(`cannot resume from ${options.resumeFrom}: its commit.json has no step`);
      }
      resumeStep = commit.step;
    }
    let dir: string;
    if (options.out !== undefined) {
      dir = options.out.replace(/\/+$/, "") || "/";
      try {
        if (!(await Deno.stat(dir)).isDirectory) {
          throw new Error(`the run folder '${dir}' exists and is not a folder`);
        }
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        await Deno.mkdir(dir, { recursive: true });
      }
    } else {
      const root = options.root ?? "runs";
      await Deno.mkdir(root, { recursive: true });
      const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, "Z").replace(/:/g, "-");
      for (let i = 1;; i++) {
        dir = `${root}/${stamp}${i === 1 ? "" : `-${i}`}`;
        try {
          await Deno.mkdir(dir); // fails when taken: two runs never share a folder
          break;
        } catch (e) {
          if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
        }
      }
    }
    const folder = new RunFolder(dir);
    await folder.#startMetrics(resumeStep);
    return folder;
  }

  /** The path of an artefact (`folder.path("samples")` → `DIR/samples.png`). */
  path(what: keyof typeof ARTEFACTS): string {
    return `${this.dir}/${ARTEFACTS[what]}`;
  }

  /**
   * Writes config.json (pretty-printed), with `quantize_kernel`: which
   * quantize kernel this host runs ({@linkcode nativeKernelStatus}).
   */
  async writeConfig(config: Record<string, unknown>): Promise<void> {
    const withKernel = { ...config, quantize_kernel: nativeKernelStatus() };
    await Deno.writeTextFile(this.path("config"), JSON.stringify(withKernel, null, 2) + "\n");
  }

  /** The step of the last metrics line (−Infinity before the first). */
  get lastStep(): number {
    return this.#lastStep;
  }

  /**
   * Appends one line to metrics.jsonl (written at once, so a run that is stopped keeps its
   * lines).
   *
   * @throws {RangeError} The step is not after the last one written (no step twice).
   */
  appendMetrics(record: MetricsRecord): void {
    if (!(record.step > this.#lastStep)) {
      throw new RangeError(
        `${this.path("metrics")}: step ${record.step} after step ${this.#lastStep}`,
      );
    }
    Deno.writeTextFileSync(this.path("metrics"), JSON.stringify(record) + "\n", { append: true });
    this.#lastStep = record.step;
  }

  async #startMetrics(resumeStep: number | null): Promise<void> {
    const file = this.path("metrics");
    let kept: string[] = [];
    if (resumeStep !== null) {
      let text = "";
      try {
        text = await Deno.readTextFile(file);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      for (const line of text.split("\n")) {
        if (!line.trim()) continue;
        let step: unknown;
        try {
          step = JSON.parse(line).step;
        } catch {
          continue; // a line cut short when the run was stopped
        }
        if (typeof step === "number" && step <= resumeStep && step > this.#lastStep) {
          kept.push(line);
          this.#lastStep = step;
        }
      }
    } else kept = [];
    await Deno.writeTextFile(file, kept.map((l) => l + "\n").join(""));
  }
}

/**
 * Payload bits per coordinate of one rank's message in a decided step, from the bytes every
 * rank sent (the figure metrics.jsonl records as `bits_per_coord`). Messages are the `dim`
 * coordinates plus one float32 non-finite flag per rank; a compressed all-gather sends each
 * message to N − 1 ranks, float32 and the CGX ring send 2(N − 1)/N of one per rank. 0 with
 * one worker (nothing is sent).
 */
export function wireBitsPerCoord(
  s: Pick<StepSummary, "bytesSent" | "collectives">,
  workers: number,
  dim: number,
  collective: string,
  quant: string,
): number {
  if (workers < 2 || s.collectives === 0) return 0;
  const share = quant !== "none" && collective === "allgather"
    ? workers - 1
    : (2 * (workers - 1)) / workers;
  return (8 * s.bytesSent) / (workers * s.collectives * share * (dim + workers));
}

/**
 * Bytes an uncompressed float32 exchange (the ring all-reduce: 2(N − 1)/N of one message per
 * rank) sends for `collectives` collectives of `dim` coordinates (plus the non-finite flag per
 * rank), all ranks together; 0 with one worker.
 */
export function float32Bytes(collectives: number, workers: number, dim: number): number {
  if (workers < 2) return 0;
  return 4 * workers * collectives * ((2 * (workers - 1)) / workers) * (dim + workers);
}

/**
 * Writes a benchmark's results file, creating its folder: `results` as indented JSON, or, given
 * an array of strings (JSON lines already), one per line. The one results writer of the
 * `bench:*` commands.
 */
export async function writeResults(
  path: string,
  results: object | readonly string[],
): Promise<void> {
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  const text = Array.isArray(results)
    ? results.map((l) => l + "\n").join("")
    : JSON.stringify(results, null, 2) + "\n";
  await Deno.writeTextFile(path, text);
}
