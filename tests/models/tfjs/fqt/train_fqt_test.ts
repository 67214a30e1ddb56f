// `deno task train --fqt …`: the two flags, their validation, and a short FQT run.
import assert from "node:assert/strict";
import {
  DEFAULT_FQT_BITS,
  FQT_CHOICES,
  parseTrainArgs,
  type TrainConfig,
  usage,
  UsageError,
} from "../../../../scripts/_cli.ts";

const SCRIPT = new URL("../../../../scripts/train_mnist.ts", import.meta.url).pathname;
const ROOT = new URL("../../../../", import.meta.url).pathname;

Deno.test("parseTrainArgs() reads --fqt and --fqt-bits; FQT is off by default", () => {
  const off = parseTrainArgs([]) as TrainConfig;
  assert.equal(off.fqt, undefined);
  assert.equal(off.fqtBits, undefined);
  assert.equal((parseTrainArgs(["--fqt", "none"]) as TrainConfig).fqt, undefined);
  const c = parseTrainArgs(["--fqt", "bhq", "--fqt-bits", "5"]) as TrainConfig;
  assert.equal(c.fqt, "bhq");
  assert.equal(c.fqtBits, 5);
  const d = parseTrainArgs(["--fqt=psq"]) as TrainConfig;
  assert.equal(d.fqtBits, DEFAULT_FQT_BITS);
  assert.deepEqual([...FQT_CHOICES], ["none", "ptq", "psq", "bhq"]);
});

Deno.test("parseTrainArgs() rejects bad --fqt values, listing the valid choices", () => {
  assert.throws(
    () => parseTrainArgs(["--fqt", "int8"]),
    (e: Error) =>
      e instanceof UsageError &&
      /--fqt: invalid value 'int8'; valid choices: none, ptq, psq, bhq/.test(e.message),
  );
  for (const bad of ["0", "17", "4.5", "x", ""]) {
    assert.throws(
      () => parseTrainArgs(["--fqt", "psq", "--fqt-bits", bad]),
      /--fqt-bits: expected an integer in 1..16/,
      bad,
    );
  }
  assert.throws(
    () => parseTrainArgs(["--fqt-bits", "5"]),
    /--fqt-bits needs --fqt with one of: ptq, psq, bhq/,
  );
  assert.throws(() => parseTrainArgs(["--fqt"]), /--fqt needs a value/);
});

Deno.test("--help lists --fqt and --fqt-bits with their choices", () => {
  const text = usage();
  assert.match(text, /--fqt none\|ptq\|psq\|bhq/);
  assert.match(text, /--fqt-bits b +bits of the FQT backward signal, 1..16/);
});

Deno.test("train.ts --fqt psq --fqt-bits 5 trains the MLP and reports ε_Q of both paths", async () => {
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
        "40",
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
    assert.ok(s.fqt_eps_q.input > 0 && s.fqt_eps_q.input < 0.05, JSON.stringify(s.fqt_eps_q));
    assert.ok(s.fqt_eps_q.weight > 0 && s.fqt_eps_q.weight < 0.05, JSON.stringify(s.fqt_eps_q));
    assert.ok(s.test_accuracy > 0.5, `accuracy ${s.test_accuracy} after 40 steps`);
    const config = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
    assert.equal(config.fqt, "psq");
    assert.equal(config.fqtBits, 5);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
