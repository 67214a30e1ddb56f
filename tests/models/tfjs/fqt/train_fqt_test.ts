// `deno task train --fqt …`: the two flags, their validation, and a short FQT run on the one
// training runtime.
import assert from "node:assert/strict";
import { UsageError } from "../../../../scripts/_cli.ts";
import {
  DEFAULT_FQT_BITS,
  FQT_CHOICES,
  mnistHelp,
  mnistJob,
  parseMnistArgs,
} from "../../../../scripts/train_mnist.ts";

const SCRIPT = new URL("../../../../scripts/train.ts", import.meta.url).pathname;
const ROOT = new URL("../../../../", import.meta.url).pathname;

Deno.test("parseMnistArgs() reads --fqt and --fqt-bits; FQT is off by default and a problem option", () => {
  const off = parseMnistArgs([]);
  assert.equal(off.fqt, "none");
  assert.equal(off["fqt-bits"], undefined);
  assert.equal(mnistJob(off).problemOptions.fqt, undefined);
  const c = parseMnistArgs(["--fqt", "bhq", "--fqt-bits", "5"]);
  assert.equal(c.fqt, "bhq");
  assert.equal(c["fqt-bits"], 5);
  assert.deepEqual(
    { fqt: mnistJob(c).problemOptions.fqt, fqtBits: mnistJob(c).problemOptions.fqtBits },
    { fqt: "bhq", fqtBits: 5 },
  );
  const d = parseMnistArgs(["--fqt=psq"]);
  assert.equal(d["fqt-bits"], DEFAULT_FQT_BITS);
  assert.deepEqual([...FQT_CHOICES], ["none", "ptq", "psq", "bhq"]);
});

Deno.test("parseMnistArgs() rejects bad --fqt values, listing the valid choices", () => {
  assert.throws(
    () => parseMnistArgs(["--fqt", "int8"]),
    (e: Error) =>
      e instanceof UsageError &&
      /--fqt: invalid value 'int8'; valid choices: none, ptq, psq, bhq/.test(e.message),
  );
  for (const bad of ["0", "17", "4.5", "x", ""]) {
    assert.throws(
      () => parseMnistArgs(["--fqt", "psq", "--fqt-bits", bad]),
      /--fqt-bits: expected an integer in 1..16/,
      bad,
    );
  }
  assert.throws(
    () => parseMnistArgs(["--fqt-bits", "5"]),
    /--fqt-bits needs --fqt with one of: ptq, psq, bhq/,
  );
  assert.throws(() => parseMnistArgs(["--fqt"]), /--fqt needs a value/);
});

Deno.test("--help lists --fqt and --fqt-bits with their choices", () => {
  const text = mnistHelp();
  assert.match(text, /--fqt none\|ptq\|psq\|bhq/);
  assert.match(text, /--fqt-bits b +bits of the FQT backward signal, 1..16/);
});

Deno.test("train --fqt psq --fqt-bits 5 trains the MLP and reports ε_Q of both paths", async () => {
  const out = await Deno.makeTempDir({ prefix: "qoda-fqt-" });
  try {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        SCRIPT,
        "--fqt",
        "psq",
        "--fqt-bits",
        "5",
        "--steps",
        "40",
        "--eval-every",
        "20",
        "--test-size",
        "500",
        "--json",
        "--out",
        out,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(stdout);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.match(text, /fully quantized training: backward signal psq 5-bit/);
    const lines = text.trim().split("\n");
    const s = JSON.parse(lines[lines.length - 1]);
    assert.equal(s.fqt, "psq");
    assert.equal(s.fqt_bits, 5);
    // Rank 0's ε_Q of the backward signal up to step 20 (measured: 0.0033 input, 0.0028 weight).
    assert.ok(s.fqt_eps_q.input > 0 && s.fqt_eps_q.input < 0.05, JSON.stringify(s.fqt_eps_q));
    assert.ok(s.fqt_eps_q.weight > 0 && s.fqt_eps_q.weight < 0.05, JSON.stringify(s.fqt_eps_q));
    // Measured with seeds 0–2: 0.788–0.832 after 40 steps.
    assert.ok(s.test_accuracy > 0.6, `accuracy ${s.test_accuracy} after 40 steps`);
    const config = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
    assert.equal(config.flags.fqt, "psq");
    assert.equal(config.flags["fqt-bits"], 5);
    assert.deepEqual(
      { fqt: config.job.problemOptions.fqt, fqtBits: config.job.problemOptions.fqtBits },
      { fqt: "psq", fqtBits: 5 },
    );
    const metrics = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(metrics.map((m) => m.step), [0, 20, 40]);
    assert.deepEqual(metrics[1].fqt_eps_q, s.fqt_eps_q);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
