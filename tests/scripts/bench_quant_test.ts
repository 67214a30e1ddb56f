import assert from "node:assert/strict";
import { nativeQuantKernel } from "../../runtime/kernels/native.ts";
import { runScript } from "../_support/run_script.ts";

Deno.test("bench:quant times each sign-magnitude case per kernel, against a memcpy in the same run", async () => {
  const out = await Deno.makeTempFile({ suffix: ".jsonl" });
  const r = await runScript("bench_quant.ts", [
    "--mib",
    "1",
    "--schemes",
    "layerwise,fp16",
    "--bits",
    "4",
    "--reps",
    "2",
    "--json",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const rows = (await Deno.readTextFile(out)).trim().split("\n").map((l) => JSON.parse(l));
  const kernels = nativeQuantKernel() ? ["native", "wasm"] : ["wasm"];
  assert.deepEqual(rows.map((x) => `${x.scheme}/${x.kernel}`), [
    ...kernels.map((k) => `layerwise/${k}`),
    "fp16/-",
  ]);
  for (const row of rows) {
    for (const key of ["encode_vs_memcpy", "decode_vs_memcpy", "decode_add_vs_memcpy"]) {
      assert.ok(row[key] > 0 && Number.isFinite(row[key]), `${row.kernel} ${key}: ${row[key]}`);
    }
  }
  const [first, ...rest] = rows.filter((x) => x.scheme === "layerwise");
  for (const row of rest) {
    // Same data, same levels: the kernels' ε_Q agree to sampling noise.
    assert.ok(Math.abs(row.eps_q / first.eps_q - 1) < 0.1, `${row.eps_q} vs ${first.eps_q}`);
    assert.equal(row.bits_per_coord, first.bits_per_coord);
  }
  await Deno.remove(out);
});
