// The one command-line module (scripts/_cli.ts): flag tables, their parsing and help, runCli's
// exit codes; and the MNIST command's table and checks, parsed without training.
import assert from "node:assert/strict";
import {
  checkQuantFlags,
  checkRuntimeFlags,
  flagHelp,
  type FlagTable,
  parseArgsOptions,
  parseFlags,
  runCli,
  RUNTIME_FLAGS,
  supervisorOptions,
  UsageError,
} from "../../scripts/_cli.ts";
import { DEFAULT_STEPS, mnistHelp, parseMnistArgs } from "../../scripts/train_mnist.ts";

const TABLE = {
  name: { type: "string", required: true, help: "a name" },
  mode: { type: "string", choices: ["a", "b"], default: "a", help: "a mode" },
  count: { type: "int", min: 1, max: 9, default: 3, help: "a count" },
  rate: { type: "number", above: 0, help: "a rate" },
  sizes: { type: "number", list: true, min: 0, default: [1, 2], help: "sizes" },
  pair: {
    type: "string",
    check: (v) => (/^\d+:\d+$/.test(v) ? undefined : "expected A:B"),
    help: "a pair",
  },
  fast: { type: "boolean", help: "go fast" },
} as const satisfies FlagTable;

function usageError(args: string[], pattern: RegExp, table: FlagTable = TABLE): void {
  assert.throws(
    () => parseFlags(args, table),
    (e: Error) => e instanceof UsageError && pattern.test(e.message),
    `${args.join(" ")} should fail with ${pattern}`,
  );
}

Deno.test("parseFlags() reads every type, fills the defaults and says which flags were given", () => {
  const { values, given } = parseFlags(["--name", "x", "--count=5", "--sizes", "0.5,3"], TABLE);
  assert.deepEqual(values, {
    name: "x",
    mode: "a",
    count: 5,
    rate: undefined,
    sizes: [0.5, 3],
    pair: undefined,
    fast: false,
  });
  assert.deepEqual([...given].sort(), ["count", "name", "sizes"]);
  const b =
    parseFlags(["--name", "y", "--mode", "b", "--rate", "0.1", "--pair", "1:2", "--fast"], TABLE)
      .values;
  assert.equal(b.mode, "b");
  assert.equal(b.rate, 0.1);
  assert.equal(b.pair, "1:2");
  assert.equal(b.fast, true);
  assert.deepEqual(b.sizes, [1, 2], "a list default is copied");
  assert.deepEqual(parseArgsOptions(TABLE).count, { type: "string" });
  assert.deepEqual(parseArgsOptions(TABLE).fast, { type: "boolean" });
});

Deno.test("parseFlags() names the bad flag and the value", () => {
  usageError([], /^--name is required$/);
  usageError(["--name", "x", "--nmae", "y"], /unknown flag '--nmae'; valid flags: --name, --mode/);
  usageError(["--name", "x", "extra"], /unexpected argument 'extra'/);
  usageError(["--name"], /--name needs a value/);
  usageError(["--name", "x", "--fast=yes"], /--fast is a switch and takes no value/);
  usageError(["--name", "x", "--mode", "c"], /--mode: invalid value 'c'; valid choices: a, b/);
  usageError(["--name", "x", "--count", "0"], /--count: expected an integer in 1\.\.9, got '0'/);
  usageError(
    ["--name", "x", "--count", "2.5"],
    /--count: expected an integer in 1\.\.9, got '2.5'/,
  );
  usageError(["--name", "x", "--count", ""], /--count: expected an integer in 1\.\.9, got ''/);
  usageError(["--name", "x", "--rate=0"], /--rate: expected a number > 0, got '0'/);
  usageError(["--name", "x", "--rate", "fast"], /--rate: expected a number > 0, got 'fast'/);
  usageError(
    ["--name", "x", "--rate", "-1"],
    /--rate: a value starting with '-' must be written as --rate=<value>/,
  );
  usageError(
    ["--name", "x", "--sizes", "1,-2"],
    /--sizes: expected a number ≥ 0, got '-2' in '1,-2'/,
  );
  usageError(["--name", "x", "--sizes", "1,,2"], /--sizes: empty item in '1,,2'/);
  usageError(["--name", "x", "--pair", "12"], /--pair: expected A:B, got '12'/);
  usageError(["--name", " "], /--name: expected a value, got ''/);
});

Deno.test("flagHelp() lists every flag with its placeholder, default and choices", () => {
  const text = flagHelp(TABLE).join("\n");
  assert.match(text, /^ {2}--name S +a name \(required\)$/m);
  assert.match(text, /^ {2}--mode a\|b +a mode \(default a\)$/m);
  assert.match(text, /^ {2}--count N +a count \(default 3\)$/m);
  assert.match(text, /^ {2}--sizes X\[,X…\] +sizes \(default 1,2\)$/m);
  assert.match(text, /^ {2}--fast +go fast$/m);
  // Long help wraps under its column and stays within 100 characters.
  const long = flagHelp({ x: { type: "boolean", help: "word ".repeat(40) } });
  assert.ok(long.length > 1 && long.every((l) => l.length <= 100), long.join("\n"));
  // Groups get a heading.
  assert.ok(flagHelp(RUNTIME_FLAGS).includes("runtime:"));
});

async function captured(f: () => Promise<number>) {
  const out: string[] = [], err: string[] = [];
  const log = console.log, error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    return { code: await f(), stdout: out.join("\n"), stderr: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("runCli(): --help exits 0, a usage error 2, a failure 1, each with its message", async () => {
  let ran = 0;
  const command = {
    name: "deno task demo",
    help: () => "usage: demo",
    parse: (args: string[]) => parseFlags(args, TABLE).values,
    run: (v: { name: string }) => {
      ran++;
      if (v.name === "boom") throw new Error("it broke");
      return Promise.resolve(v.name === "three" ? 3 : undefined);
    },
  };
  const help = await captured(() => runCli(["--count", "99", "--help"], command));
  assert.deepEqual([help.code, help.stdout, ran], [0, "usage: demo", 0]);
  const bad = await captured(() => runCli(["--name", "x", "--count", "99"], command));
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^error: --count: expected an integer in 1\.\.9, got '99'$/m);
  assert.match(bad.stderr, /run `deno task demo --help` for every flag/);
  assert.equal(ran, 0, "nothing runs after a usage error");
  const fail = await captured(() => runCli(["--name", "boom"], command));
  assert.deepEqual([fail.code, fail.stderr], [1, "error: it broke"]);
  assert.equal((await captured(() => runCli(["--name", "ok"], command))).code, 0);
  assert.equal((await captured(() => runCli(["--name", "three"], command))).code, 3);
});

Deno.test("checkQuantFlags() refuses bits a scheme cannot use, naming --bits", () => {
  checkQuantFlags("qsgd", 8, 1024);
  checkQuantFlags("none", 1, 1024);
  assert.throws(
    () => checkQuantFlags("layerwise", 1, 1024),
    (e: Error) =>
      e instanceof UsageError &&
      /^--bits: invalid value '1' for --quant layerwise: .*2\.\.16, got 1/.test(e.message),
  );
});

Deno.test("the process-runtime flags need --runtime process; the supervisor options follow the flags", () => {
  const parse = (args: string[]) => parseFlags(args, RUNTIME_FLAGS);
  for (
    const flag of [["--listen", "127.0.0.1:0"], ["--secret", "s"], ["--remote-workers"], [
      "--elastic",
    ]]
  ) {
    const { values, given } = parse(["--runtime", "inprocess", ...flag]);
    assert.throws(
      () => checkRuntimeFlags(values, given),
      (e: Error) =>
        e instanceof UsageError &&
        e.message.startsWith(`${flag[0]} is a process-runtime flag: it needs --runtime process`),
    );
  }
  const inproc = parse(["--runtime", "inprocess", "--heartbeat-ms", "500"]);
  checkRuntimeFlags(inproc.values, inproc.given);
  assert.deepEqual(supervisorOptions(inproc.values, 3), {
    workers: 3,
    spawn: "inprocess",
    heartbeatTimeoutMs: 500,
  });
  const remote = parse(["--remote-workers", "--listen", "0.0.0.0:7000", "--secret", "s"]).values;
  const o = supervisorOptions(remote, 2);
  assert.equal(o.spawn, null);
  assert.equal(o.listen, "0.0.0.0:7000");
  assert.equal(o.secret, "s");
  const local = supervisorOptions(parse([]).values, 2);
  assert.ok(Array.isArray(local.spawn) && local.spawn.some((a) => a.endsWith("worker_main.ts")));
  assert.equal(local.listen, "127.0.0.1:0");
});

Deno.test("the MNIST command line: defaults, every flag, and its checks", () => {
  const c = parseMnistArgs([]);
  assert.equal(c.workers, 2);
  assert.equal(c.steps, DEFAULT_STEPS);
  assert.equal(c.quant, "layerwise");
  assert.equal(c.bits, 4);
  assert.equal(c.coder, "fixed");
  assert.equal(c.optimizer, "adam");
  assert.equal(c.lr, 0.001);
  assert.equal(c.runtime, "inprocess");
  assert.equal(c.fqt, "none");
  assert.equal(c["fqt-bits"], undefined);
  assert.equal(parseMnistArgs(["--optimizer", "sgd"]).lr, 0.1);
  const all = parseMnistArgs([
    "--problem=mnist",
    "--workers=4",
    "--steps",
    "10",
    "--batch",
    "16",
    "--lr",
    "0.01",
    "--quant",
    "qsgd",
    "--bits",
    "8",
    "--bucket",
    "512",
    "--collective",
    "ring",
    "--coder",
    "omega",
    "--model",
    "cnn",
    "--backend",
    "cpu",
    "--seed",
    "9",
    "--eval-every",
    "5",
    "--test-size",
    "500",
    "--out",
    "x",
    "--runtime",
    "process",
    "--json",
    "--quiet",
  ]);
  assert.deepEqual(
    { ...all },
    {
      problem: "mnist",
      workers: 4,
      steps: 10,
      batch: 16,
      lr: 0.01,
      optimizer: "adam",
      quant: "qsgd",
      bits: 8,
      bucket: 512,
      collective: "ring",
      coder: "omega",
      model: "cnn",
      fqt: "none",
      "fqt-bits": undefined,
      backend: "cpu",
      seed: 9,
      "eval-every": 5,
      "test-size": 500,
      out: "x",
      runtime: "process",
      json: true,
      quiet: true,
      help: false,
    },
  );
  const mnistError = (args: string[], pattern: RegExp) =>
    assert.throws(
      () => parseMnistArgs(args),
      (e: Error) => e instanceof UsageError && pattern.test(e.message),
      args.join(" "),
    );
  mnistError(["--wrokers", "3"], /unknown flag '--wrokers'; valid flags: --problem, --workers/);
  mnistError(["--workers", "0"], /--workers: expected an integer in 1\.\.256, got '0'/);
  mnistError(["--lr=-1"], /--lr: expected a number > 0, got '-1'/);
  mnistError(["--quant", "bogus"], /--quant: invalid value 'bogus'; valid choices: none, fp16,/);
  mnistError(
    ["--optimizer", "qoda"],
    /--optimizer: invalid value 'qoda'; valid choices: adam, sgd/,
  );
  mnistError(["--bits", "99"], /--bits: expected an integer in 1\.\.16, got '99'/);
  mnistError(["--bits", "1"], /--bits: invalid value '1' for --quant layerwise/);
  mnistError(
    ["--batch", "5000"],
    /--batch: invalid value '5000': each of the 2 workers holds 4000/,
  );
  mnistError(["--problem", "cifar"], /--problem: invalid value 'cifar'; valid choices: mnist/);
  assert.match(
    mnistHelp(),
    /--runtime process\|inprocess\n(?: {26}.*\n)*? {26}.*\(default inprocess\)/,
  );
});
