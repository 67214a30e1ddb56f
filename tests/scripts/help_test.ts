// Every entry point of scripts/ goes through the one command-line module: its --help lists
// exactly the flags written out here (by hand, not from the flag tables), and a bad flag or
// value exits 2 with `error: <message naming the flag and the value>` before anything runs.
import assert from "node:assert/strict";
import { runScript } from "../_support/run_script.ts";

const RUNTIME = ["runtime", "listen", "secret", "remote-workers", "elastic", "heartbeat-ms"];

/** Each command: script, the arguments that select it, and every flag its --help must list. */
const COMMANDS: { name: string; script: string; args: string[]; flags: string[] }[] = [
  {
    name: "train (the WGAN)",
    script: "train.ts",
    args: [],
    flags: [
      "problem",
      "dataset",
      "arch",
      "workers",
      "optimizer",
      "quant",
      "bits",
      "bucket",
      "collective",
      "coder",
      "steps",
      "lr",
      "lr-gamma",
      "lr-eta",
      "beta1",
      "beta2",
      "batch",
      "widths",
      "latent-dim",
      "data-scale",
      "gp",
      "loss",
      "pack",
      "parameterization",
      "clip",
      "average",
      "eval-every",
      "eval-samples",
      "target",
      "backend",
      "seed",
      "out",
      "no-artifacts",
      "commit-every",
      "commit-seconds",
      "resume",
      ...RUNTIME,
      "json",
      "quiet",
      "help",
    ],
  },
  {
    name: "train --problem bilinear",
    script: "train.ts",
    args: ["--problem", "bilinear"],
    flags: [
      "problem",
      "workers",
      "optimizer",
      "quant",
      "bits",
      "bucket",
      "collective",
      "coder",
      "steps",
      "lr",
      "sigma-abs",
      "sigma-rel",
      "dim",
      "seed",
      "eval-every",
      "out",
      "commit-every",
      "resume",
      "inject-nan",
      ...RUNTIME,
      "json",
      "quiet",
      "help",
    ],
  },
  {
    name: "train --problem mnist",
    script: "train.ts",
    args: ["--problem", "mnist"],
    flags: [
      "problem",
      "workers",
      "steps",
      "batch",
      "lr",
      "optimizer",
      "quant",
      "bits",
      "bucket",
      "collective",
      "coder",
      "model",
      "fqt",
      "fqt-bits",
      "backend",
      "seed",
      "eval-every",
      "test-size",
      "out",
      "runtime",
      "json",
      "quiet",
      "help",
    ],
  },
  {
    name: "quantize",
    script: "quantize.ts",
    args: [],
    flags: [
      "model",
      "bits",
      "method",
      "scalar",
      "samples",
      "patch-fraction",
      "form",
      "no-bias-correction",
      "layer-bits",
      "seed",
      "backend",
      "out",
      "json",
      "help",
    ],
  },
  {
    name: "bench:allreduce",
    script: "bench_allreduce.ts",
    args: [],
    flags: [
      "ranks",
      "mib",
      "layers",
      "modes",
      "collective",
      "link",
      "delay",
      "transport",
      "compare",
      "iters",
      "trace",
      "warmup",
      "json",
      "out",
      "help",
    ],
  },
  {
    name: "bench:quant",
    script: "bench_quant.ts",
    args: [],
    flags: [
      "mib",
      "schemes",
      "bits",
      "coder",
      "kernels",
      "bucket",
      "row",
      "reps",
      "path",
      "memory",
      "seed",
      "json",
      "out",
      "help",
    ],
  },
  {
    name: "bench:train",
    script: "bench_train.ts",
    args: [],
    flags: [
      "links",
      "workers",
      "configs",
      "dataset",
      "arch",
      "steps",
      "eval-every",
      "target",
      "optimizer",
      "collective",
      "lr",
      "seed",
      "out",
      "json",
      "from",
      "help",
    ],
  },
  {
    name: "bench:gan",
    script: "bench_gan.ts",
    args: [],
    flags: ["datasets", "steps", "seconds", "threads", "seed", "out", "help"],
  },
  {
    name: "ring_rank",
    script: "ring_rank.ts",
    args: [],
    flags: [
      "rank",
      "peers",
      "secret",
      "elements",
      "mib",
      "layers",
      "mode",
      "scheme",
      "bits",
      "bucket",
      "op",
      "iters",
      "warmup",
      "seed",
      "timeout-ms",
      "check",
      "link",
      "segment-kib",
      "trace",
      "help",
    ],
  },
  {
    name: "train_mnist_models",
    script: "train_mnist_models.ts",
    args: [],
    flags: ["model", "epochs", "seed", "backend", "out", "help"],
  },
];

for (const c of COMMANDS) {
  Deno.test(`${c.name} --help lists exactly its flags; an unknown flag exits 2`, async () => {
    const h = await runScript(c.script, [...c.args, "--help"]);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /^usage: /);
    assert.match(h.stdout, /Exit codes: 0 success, 1 runtime error, 2 bad command line\./);
    const listed = [...h.stdout.matchAll(/^ {2}--([a-z0-9-]+)/gm)].map((m) => m[1]);
    assert.deepEqual(listed.toSorted(), c.flags.toSorted(), `${c.name}: the flags of --help`);
    const u = await runScript(c.script, [...c.args, "--bogus-flag", "1"]);
    assert.equal(u.code, 2, u.stderr);
    assert.match(u.stderr, /^error: unknown flag '--bogus-flag'; valid flags: /m);
    assert.equal(u.stdout, "");
  });
}

/** A command line with one bad value, and the message that must name it. */
const BAD_VALUES: [string, string[], RegExp][] = [
  ["train.ts", ["--bits", "99"], /^error: --bits: expected an integer in 1\.\.16, got '99'$/m],
  [
    "train.ts",
    ["--dataset", "cifar10"],
    /--dataset: invalid value 'cifar10'; valid choices: mnist/,
  ],
  ["train.ts", ["--runtime", "inprocess"], /--runtime: the WGAN runs on worker processes/],
  [
    "train.ts",
    ["--problem", "chess"],
    /--problem: invalid value 'chess'; valid choices: wgan, mnist/,
  ],
  [
    "train.ts",
    ["--problem", "kelly", "--runtime", "inprocess", "--secret", "s"],
    /^error: --secret is a process-runtime flag: it needs --runtime process/m,
  ],
  [
    "train.ts",
    ["--problem", "kelly", "--inject-nan", "1-5"],
    /^error: --inject-nan: expected RANK:CALL with CALL ≥ 1 \(e\.g\. 1:50\), got '1-5'$/m,
  ],
  ["train.ts", ["--problem", "kelly", "--commit-every", "5"], /--commit-every needs --out DIR/],
  ["train.ts", ["--problem", "mnist", "--fqt-bits", "5"], /--fqt-bits needs --fqt with one of/],
  ["train.ts", ["--fqt", "int8"], /--fqt: invalid value 'int8'; valid choices: none, ptq, psq/],
  [
    "quantize.ts",
    ["--model", "mnist-mlp", "--bits", "4,0"],
    /--bits: expected an integer in 1\.\.16, got '0' in '4,0'/,
  ],
  ["bench_allreduce.ts", ["--ranks", "99"], /--ranks: expected an integer in 1\.\.32, got '99'/],
  [
    "bench_allreduce.ts",
    ["--modes", "fp32,zip4"],
    /--modes: expected fp32, fp16 or one of .* got 'zip4' in 'fp32,zip4'/,
  ],
  [
    "bench_quant.ts",
    ["--schemes", "qsgd,foo"],
    /--schemes: invalid value 'foo' in 'qsgd,foo'; valid choices: none/,
  ],
  [
    "bench_quant.ts",
    ["--kernels", "wasm,cuda"],
    /--kernels: invalid value 'cuda' in 'wasm,cuda'; valid choices: native, wasm/,
  ],
  [
    "bench_train.ts",
    ["--configs", "qoda-zip"],
    /--configs: invalid value 'qoda-zip'; valid choices: qoda-none/,
  ],
  [
    "bench_gan.ts",
    ["--datasets", "mnist"],
    /--datasets: invalid value 'mnist'; valid choices: gaussians8, gaussians25/,
  ],
  [
    "ring_rank.ts",
    ["--rank", "2", "--peers", "127.0.0.1:1,127.0.0.1:2"],
    /--rank: invalid value '2': --peers lists 2 ranks/,
  ],
  ["ring_rank.ts", ["--peers", "127.0.0.1:1"], /^error: --rank is required$/m],
  ["train_mnist_models.ts", ["--epochs", "0"], /--epochs: expected an integer ≥ 1, got '0'/],
];

Deno.test("a bad value exits 2 naming the flag and the value", async () => {
  for (const [script, args, re] of BAD_VALUES) {
    const r = await runScript(script, args);
    assert.equal(r.code, 2, `${script} ${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re, `${script} ${args.join(" ")}`);
  }
});

Deno.test("--bits a scheme cannot use exits 2 before any worker starts or any folder is written", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    for (const problem of [[], ["--problem", "bilinear"], ["--problem", "mnist"]]) {
      const out = `${tmp}/never`;
      for (const bits of ["1", "99"]) {
        const r = await runScript("train.ts", [
          ...problem,
          "--quant",
          "layerwise",
          "--bits",
          bits,
          "--out",
          out,
        ]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(`^error: --bits: (invalid value|expected).*'${bits}'`, "m"),
        );
        assert.doesNotMatch(r.stdout + r.stderr, /started worker|ring of|backend:/);
        assert.ok(!(await exists(out)), `${problem.join(" ")} --bits ${bits} made ${out}`);
      }
    }
    // An --out that is a file is refused the same way.
    const file = `${tmp}/file`;
    await Deno.writeTextFile(file, "");
    const r = await runScript("train.ts", ["--problem", "kelly", "--out", file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`^error: --out: '${file}' exists and is not a folder$`, "m"));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
