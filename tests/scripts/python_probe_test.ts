// Finding a python3 with torch for bench:allreduce --compare gloo (scripts/_python.ts).
import assert from "node:assert/strict";
import {
  choosePython,
  findTorchPython,
  probePython,
  pythonCandidates,
  type PythonProbe,
} from "../../scripts/_python.ts";

const noTorch = (python: string): PythonProbe => ({
  python,
  found: true,
  torch: false,
  gloo: false,
  error: "ModuleNotFoundError: No module named 'torch'",
});
const withTorch = (python: string, gloo = true): PythonProbe => ({
  python,
  found: true,
  torch: true,
  gloo,
  version: "1.13.1",
});
const missing = (python: string): PythonProbe => ({
  python,
  found: false,
  torch: false,
  gloo: false,
});

Deno.test("choosePython: the first candidate with torch and Gloo", () => {
  // pyenv's python3 first on PATH without torch, Debian's with it.
  assert.deepEqual(choosePython([noTorch("python3"), withTorch("/usr/bin/python3")]), {
    python: "/usr/bin/python3",
  });
  assert.deepEqual(choosePython([withTorch("python3"), withTorch("/usr/bin/python3")]), {
    python: "python3",
  });
  assert.deepEqual(choosePython([missing("python3"), withTorch("/usr/bin/python3")]), {
    python: "/usr/bin/python3",
  });
  assert.deepEqual(
    choosePython([withTorch("python3", false), withTorch("/usr/bin/python3")]),
    { python: "/usr/bin/python3" },
  );
});

Deno.test("choosePython: none works, the message names each candidate and what to install", () => {
  const r = choosePython([noTorch("python3"), missing("/usr/bin/python3")]);
  assert("error" in r);
  assert.match(r.error, /python3: no torch \(ModuleNotFoundError: No module named 'torch'\)/);
  assert.match(r.error, /\/usr\/bin\/python3: not found/);
  assert.match(r.error, /apt-get install -y python3-torch/);
  assert.match(r.error, /QODA_PYTHON/);
  assert.match(r.error, /--compare none/);
  const g = choosePython([withTorch("python3", false)]);
  assert("error" in g && /python3: torch 1\.13\.1 without Gloo/.test(g.error));
  assert("error" in choosePython([]));
});

Deno.test("pythonCandidates: PATH's python3, then Debian's; QODA_PYTHON alone when set", () => {
  assert.deepEqual(pythonCandidates({}), ["python3", "/usr/bin/python3"]);
  assert.deepEqual(pythonCandidates({ QODA_PYTHON: "/opt/py/bin/python3" }), [
    "/opt/py/bin/python3",
  ]);
});

Deno.test("probePython: a missing interpreter, one without torch, one with it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(await probePython(`${dir}/nope`), missing(`${dir}/nope`));
    // Stand-ins for interpreters: shell scripts answering the probe.
    const fake = async (name: string, body: string) => {
      const p = `${dir}/${name}`;
      await Deno.writeTextFile(p, `#!/bin/sh\n${body}\n`);
      await Deno.chmod(p, 0o755);
      return p;
    };
    const bad = await fake(
      "bad",
      "echo \"ModuleNotFoundError: No module named 'torch'\" >&2; exit 1",
    );
    assert.deepEqual(await probePython(bad), { ...noTorch(bad) });
    const good = await fake("good", "echo 2.1.0 1");
    assert.deepEqual(await probePython(good), { ...withTorch(good), version: "2.1.0" });
    const noGloo = await fake("nogloo", "echo 2.1.0 0");
    assert.equal((await probePython(noGloo)).gloo, false);
    assert.deepEqual(await findTorchPython({ QODA_PYTHON: good }), { python: good });
    const r = await findTorchPython({ QODA_PYTHON: bad });
    assert("error" in r && r.error.includes(bad));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
