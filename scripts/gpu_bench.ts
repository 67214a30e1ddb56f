/**
 * `deno task gpu:bench`: the tfjs `webgpu` backend against `wasm`, in one process, on the
 * kernels and steps this project runs, then a 2-worker WGAN run on webgpu; ends with one JSON
 * summary line (see docs/gpu.md).
 *
 * - matMul of two n×n matrices for each `--matmul` n;
 * - conv2d of a DCGAN-like layer (`--conv B,H,Cin,Cout`: B×H×H×Cin, 3×3 kernel, stride 1,
 *   `same` padding);
 * - one WGAN worker step (the operator sample `worker.operator(x, out)`: the point uploaded,
 *   forward and backward passes of both players with the gradient penalty, the gradient read
 *   back) for each `--archs` pair on MNIST.
 *
 * Each case runs on wasm, then on webgpu: `--warmup` untimed runs (shader compilation), then the
 * median of `--reps` timed ones. A kernel's time includes reading back the sum of its result
 * (one float), so the device has finished; the operator's includes its whole readback. Then the
 * results are compared: max |webgpu − wasm| ≤ tolerance × max(1, max |wasm|) (`--tolerance`
 * for the kernels, `--operator-tolerance` for the operator samples, whose second-order terms
 * add rounding). The exit code is 1 when webgpu is not what tfjs runs or a result is off.
 *
 * @module
 */
import {
  type Command,
  type FlagTable,
  type FlagValues,
  HELP_FLAG,
  helpText,
  parseFlags,
  runCli,
  UsageError,
} from "./_cli.ts";
import {
  type AdapterFacts,
  describeBackend,
  initBackend,
  probeWebgpu,
  softwareAdapter,
} from "../models/tfjs/backend/backend.ts";
import type { Tfjs } from "../models/tfjs/types.ts";
import { createWganProblem } from "../models/gan/wgan.ts";
import { GAN_ARCHS } from "../models/gan/networks.ts";
import { Rng } from "../runtime/rng.ts";

/** The flags of `deno task gpu:bench`. */
export const GPU_BENCH_FLAGS = {
  matmul: { type: "int", list: true, min: 1, default: [1024, 2048], help: "matMul sizes n (n×n)" },
  conv: {
    type: "int",
    list: true,
    min: 1,
    value: "B,H,CIN,COUT",
    default: [64, 14, 64, 128],
    help: "conv2d input B×H×H×CIN, 3×3 kernel to COUT channels, stride 1, same padding",
  },
  archs: {
    type: "string",
    list: true,
    choices: GAN_ARCHS,
    default: [...GAN_ARCHS],
    help: "WGAN pairs whose operator sample is timed",
  },
  batch: { type: "int", min: 1, default: 64, help: "WGAN batch per worker" },
  widths: {
    type: "int",
    list: true,
    min: 1,
    defaultHelp: "each pair's own",
    help: "WGAN hidden widths (mlp) or channels (dcgan)",
  },
  warmup: { type: "int", min: 0, default: 2, help: "untimed runs before timing" },
  reps: { type: "int", min: 1, default: 5, help: "timed runs (the median is reported)" },
  tolerance: {
    type: "number",
    above: 0,
    default: 1e-4,
    help: "kernels: max |webgpu − wasm| allowed, relative to max(1, max |wasm|)",
  },
  "operator-tolerance": {
    type: "number",
    above: 0,
    default: 1e-3,
    help: "operator samples: the same, relative to max(1, max |wasm|)",
  },
  "train-steps": {
    type: "int",
    min: 0,
    default: 300,
    help: "steps of the 2-worker WGAN run on webgpu (0: no run)",
  },
  "train-workers": { type: "int", min: 1, default: 2, help: "worker processes of that run" },
  "train-arch": { type: "string", choices: GAN_ARCHS, default: "mlp", help: "its WGAN pair" },
  "train-batch": { type: "int", min: 1, default: 64, help: "its batch per worker" },
  "train-eval-samples": {
    type: "int",
    min: 1,
    default: 1000,
    help: "samples of its quality evaluations (at the start and at the end)",
  },
  "cached-only": {
    type: "boolean",
    help: "start the training run with deno's --cached-only (offline bundles)",
  },
  tiny: {
    type: "boolean",
    help: "a configuration for CI: matmul 128, conv 4,8,8,8, the mlp pair at widths 16,16 " +
      "and batch 8, warmup 1, reps 2, no training run (flags given as well still apply)",
  },
  out: { type: "string", value: "FILE", help: "also write the JSON summary to FILE" },
  json: { type: "boolean", help: "print only the JSON summary line" },
  ...HELP_FLAG,
} as const satisfies FlagTable;

type GpuBenchCli = FlagValues<typeof GPU_BENCH_FLAGS>;

/** The `--tiny` values, used for the flags not given. */
const TINY: Partial<GpuBenchCli> = {
  matmul: [128],
  conv: [4, 8, 8, 8],
  archs: ["mlp"],
  batch: 8,
  widths: [16, 16],
  warmup: 1,
  reps: 2,
  "train-steps": 0,
};

/** Timings and the comparison of one case. */
export interface CaseResult {
  /** Median ms on wasm. */
  wasm_ms: number;
  /** Median ms on webgpu. */
  webgpu_ms: number;
  /** webgpu_ms / wasm_ms: below 1, webgpu is faster. */
  ratio: number;
  /** max |webgpu − wasm| over the result. */
  max_abs_diff: number;
  /** max |wasm| over the result (the scale of the tolerance). */
  max_abs: number;
  /** The tolerance relative to max(1, max_abs). */
  tolerance: number;
  /** Whether max_abs_diff ≤ tolerance × max(1, max_abs). */
  match: boolean;
}

/** The 2-worker WGAN run on webgpu. */
export interface TrainResult {
  arch: string;
  workers: number;
  steps: number;
  batch: number;
  /** Fréchet distance at step 0 (lower is better). */
  quality_start: number | null;
  /** Fréchet distance at the end. */
  quality_end: number | null;
  step_ms: number | null;
  compute_ms: number | null;
  seconds: number;
  replicas_agree: boolean | null;
  /** The command's exit code. */
  code: number;
  /** The end of its stderr when it failed. */
  error?: string;
}

/** The JSON summary line. */
export interface GpuBenchSummary {
  kind: "gpu_bench";
  date: string;
  deno: string;
  v8: string;
  os: string;
  arch: string;
  cpus: number;
  device: (AdapterFacts & { software: string | null }) | null;
  /** describeBackend of each backend. */
  backends: { webgpu: string; wasm: string };
  /** `tf.getBackend()` while the webgpu cases ran. */
  webgpu_active: string;
  config: Record<string, unknown>;
  results: Record<string, CaseResult>;
  train: TrainResult | null;
  /** webgpu really ran, and every result matched within its tolerance. */
  ok: boolean;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function normals(n: number, seed: number): Float32Array {
  const r = new Rng(seed), out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r.normal();
  return out;
}

/** max |a − b| and max |b| (b: the reference). */
function compare(a: Float32Array, b: Float32Array): { diff: number; scale: number } {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    diff = d > diff || Number.isNaN(d) ? d : diff;
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { diff, scale };
}

/** One case on the active backend: median ms of `run`, and the result to compare. */
interface Measured {
  ms: number;
  result: Float32Array;
}

async function timeIt(
  warmup: number,
  reps: number,
  run: () => Promise<void> | void,
): Promise<number> {
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** A kernel: time `op` plus reading back the sum of its output; return its whole output once. */
async function kernelCase(
  tf: Tfjs,
  cfg: GpuBenchCli,
  inputs: { data: Float32Array; shape: number[] }[],
  op: (xs: ReturnType<Tfjs["tensor"]>[]) => ReturnType<Tfjs["tensor"]>,
): Promise<Measured> {
  const xs = inputs.map((i) => tf.tensor(i.data, i.shape));
  try {
    const ms = await timeIt(cfg.warmup, cfg.reps, async () => {
      const y = op(xs);
      const s = tf.sum(y);
      await s.data();
      tf.dispose([y, s]);
    });
    const y = op(xs);
    const result = new Float32Array(await y.data() as Float32Array);
    y.dispose();
    return { ms, result };
  } finally {
    tf.dispose(xs);
  }
}

/** One WGAN operator sample: time it; the compared sample is a fresh worker's first. */
async function operatorCase(tf: Tfjs, cfg: GpuBenchCli, arch: string): Promise<Measured> {
  const problem = await createWganProblem(tf, {
    dataset: "mnist",
    arch,
    batch: cfg.batch,
    evalSamples: 16,
    ...(cfg.widths ? { widths: cfg.widths } : {}),
  });
  try {
    const x = problem.initial();
    const out = new Float32Array(problem.dim);
    const worker = problem.worker(0, 2, new Rng(11));
    const ms = await timeIt(cfg.warmup, cfg.reps, () => {
      out.fill(0);
      worker.operator(x, out);
    });
    const result = new Float32Array(problem.dim);
    problem.worker(0, 2, new Rng(7)).operator(x, result);
    return { ms, result };
  } finally {
    problem.dispose();
  }
}

/** Every case on the active backend, by name. */
async function runCases(
  tf: Tfjs,
  cfg: GpuBenchCli,
  say: (line: string) => void,
  backend: string,
): Promise<Map<string, Measured>> {
  const out = new Map<string, Measured>();
  const record = (name: string, m: Measured) => {
    out.set(name, m);
    say(`  ${backend.padEnd(6)} ${name.padEnd(16)} ${m.ms.toFixed(2).padStart(10)} ms`);
  };
  for (const n of cfg.matmul) {
    const a = { data: normals(n * n, 1), shape: [n, n] };
    const b = { data: normals(n * n, 2), shape: [n, n] };
    record(`matmul_${n}`, await kernelCase(tf, cfg, [a, b], ([p, q]) => tf.matMul(p, q)));
  }
  const [cb, h, cin, cout] = cfg.conv;
  const x = { data: normals(cb * h * h * cin, 3), shape: [cb, h, h, cin] };
  const w = {
    data: normals(9 * cin * cout, 4).map((v) => v / Math.sqrt(9 * cin)),
    shape: [3, 3, cin, cout],
  };
  record(
    "conv2d",
    await kernelCase(
      tf,
      cfg,
      [x, w],
      ([p, q]) => tf.conv2d(p as never, q as never, 1, "same"),
    ),
  );
  for (const arch of cfg.archs) record(`wgan_${arch}`, await operatorCase(tf, cfg, arch));
  return out;
}

/** The 2-worker WGAN run on webgpu, through the command line, in a child process. */
async function trainRun(cfg: GpuBenchCli, say: (line: string) => void): Promise<TrainResult> {
  const steps = cfg["train-steps"];
  const args = [
    "run",
    ...(cfg["cached-only"] ? ["--cached-only"] : []),
    "-A",
    new URL("./train.ts", import.meta.url).pathname,
    "--backend",
    "webgpu",
    "--workers",
    String(cfg["train-workers"]),
    "--arch",
    cfg["train-arch"],
    "--batch",
    String(cfg["train-batch"]),
    "--steps",
    String(steps),
    "--eval-every",
    String(steps),
    "--eval-samples",
    String(cfg["train-eval-samples"]),
    "--collective", // 4-bit messages: `auto` would keep float32 between processes of one host
    "allgather",
    "--no-artifacts",
    "--json",
    "--quiet",
  ];
  say(`training: deno ${args.join(" ")}`);
  const t0 = performance.now();
  const child = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const stdout = new TextDecoder().decode(child.stdout);
  const stderr = new TextDecoder().decode(child.stderr);
  const base = {
    arch: cfg["train-arch"],
    workers: cfg["train-workers"],
    steps,
    batch: cfg["train-batch"],
    seconds,
    code: child.code,
  };
  const line = stdout.trim().split("\n").reverse().find((l) => l.startsWith("{"));
  if (child.code !== 0 || line === undefined) {
    return {
      ...base,
      quality_start: null,
      quality_end: null,
      step_ms: null,
      compute_ms: null,
      replicas_agree: null,
      error: stderr.trim().split("\n").slice(-5).join("\n") || "no JSON line",
    };
  }
  const j = JSON.parse(line) as Record<string, unknown>;
  const evals = (j.evals ?? []) as { step: number; quality: number }[];
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  return {
    ...base,
    steps: num(j.steps) ?? steps,
    quality_start: evals.find((e) => e.step === 0)?.quality ?? null,
    quality_end: num(j.quality),
    step_ms: num(j.step_ms),
    compute_ms: num(j.compute_ms),
    replicas_agree: typeof j.replicas_agree === "boolean" ? j.replicas_agree : null,
  };
}

/**
 * Runs the benchmark: every case on wasm, then on webgpu, then the training run.
 *
 * @param cfg The parsed flags.
 * @param say Where progress lines go.
 * @returns The summary.
 */
export async function runGpuBench(
  cfg: GpuBenchCli,
  say: (line: string) => void,
): Promise<GpuBenchSummary> {
  const probe = await probeWebgpu();
  const device = probe.found ? { ...probe.facts, software: softwareAdapter(probe.facts) } : null;
  say(
    probe.found
      ? `adapter: ${
        probe.facts.description || "(no description)"
      } (vendor ${probe.facts.vendor}, ` +
        `device ${probe.facts.device}${
          device?.software ? `; software: ${device.software}` : "; hardware"
        })`
      : `no webgpu adapter: ${probe.why}`,
  );

  const wasm = await initBackend("wasm");
  say(describeBackend(wasm));
  const onWasm = await runCases(wasm.tf, cfg, say, "wasm");

  const webgpu = await initBackend("webgpu");
  const active = webgpu.tf.getBackend();
  say(describeBackend(webgpu));
  const onGpu = await runCases(webgpu.tf, cfg, say, "webgpu");
  await initBackend("wasm"); // the GPU device is left idle for the training run's processes

  const results: Record<string, CaseResult> = {};
  let ok = active === "webgpu";
  for (const [name, cpu] of onWasm) {
    const gpu = onGpu.get(name)!;
    const tolerance = name.startsWith("wgan_") ? cfg["operator-tolerance"] : cfg.tolerance;
    const { diff, scale } = compare(gpu.result, cpu.result);
    const match = diff <= tolerance * Math.max(1, scale);
    ok &&= match;
    results[name] = {
      wasm_ms: cpu.ms,
      webgpu_ms: gpu.ms,
      ratio: gpu.ms / cpu.ms,
      max_abs_diff: diff,
      max_abs: scale,
      tolerance,
      match,
    };
    say(
      `${name.padEnd(16)} webgpu/wasm ${(gpu.ms / cpu.ms).toFixed(3)}  max |Δ| ${
        diff.toExponential(2)
      } (scale ${scale.toPrecision(3)}) ${match ? "match" : "MISMATCH"}`,
    );
  }

  let train: TrainResult | null = null;
  if (cfg["train-steps"] > 0) {
    train = await trainRun(cfg, say);
    ok &&= train.code === 0;
    say(
      train.code === 0
        ? `training: ${train.steps} steps in ${train.seconds.toFixed(1)} s, ${
          train.step_ms?.toFixed(1)
        } ms/step, FID ${train.quality_start?.toFixed(1)} → ${train.quality_end?.toFixed(1)}`
        : `training failed (exit ${train.code}): ${train.error}`,
    );
  }

  return {
    kind: "gpu_bench",
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: Deno.build.os,
    arch: Deno.build.arch,
    cpus: navigator.hardwareConcurrency,
    device,
    backends: { webgpu: describeBackend(webgpu), wasm: describeBackend(wasm) },
    webgpu_active: active,
    config: {
      matmul: cfg.matmul,
      conv: cfg.conv,
      archs: cfg.archs,
      batch: cfg.batch,
      widths: cfg.widths ?? null,
      warmup: cfg.warmup,
      reps: cfg.reps,
      train_steps: cfg["train-steps"],
      train_workers: cfg["train-workers"],
      train_arch: cfg["train-arch"],
      train_batch: cfg["train-batch"],
    },
    results,
    train,
    ok,
  };
}

function parse(args: string[]): GpuBenchCli {
  const { values, given } = parseFlags(args, GPU_BENCH_FLAGS);
  const v: GpuBenchCli = { ...values };
  if (v.tiny) {
    for (const [k, value] of Object.entries(TINY)) {
      if (!given.has(k)) (v as Record<string, unknown>)[k] = value;
    }
  }
  if (v.conv.length !== 4) {
    throw new UsageError(`--conv: expected B,H,CIN,COUT, got '${v.conv.join(",")}'`);
  }
  if (v.widths && v.widths.length !== 2) {
    throw new UsageError(`--widths: expected two values, got '${v.widths.join(",")}'`);
  }
  return v;
}

/** The command. */
export const GPU_BENCH: Command<GpuBenchCli> = {
  name: "deno task gpu:bench",
  help: () =>
    helpText({
      usage: "deno task gpu:bench [flags]",
      about: "Times matMul, a DCGAN-like conv2d and one WGAN operator sample per pair on the " +
        "tfjs webgpu backend\nagainst wasm in the same process (median after warm-up), " +
        "checks that the results agree,\nthen trains the WGAN on webgpu with 2 worker " +
        "processes. Ends with one JSON summary line.",
      flags: GPU_BENCH_FLAGS,
    }),
  parse,
  run: async (cfg) => {
    const say = cfg.json ? () => {} : (line: string) => console.error(line);
    const summary = await runGpuBench(cfg, say);
    const line = JSON.stringify(summary);
    if (cfg.out) await Deno.writeTextFile(cfg.out, line + "\n");
    console.log(line);
    return summary.ok ? 0 : 1;
  },
};

/**
 * Runs `deno task gpu:bench`.
 * @param args Command-line arguments.
 * @returns The exit code.
 */
export function main(args: string[]): Promise<number> {
  return runCli(args, GPU_BENCH);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
