// The package used as another project would use it: a folder of its own, a
// deno.json that links this checkout as `@qoda/ring` (no copy of this
// repository's import map), a problem module of its own trained through
// train() on worker processes, and a tfjs-free subpath.
import assert from "node:assert/strict";

const REPO = new URL("../", import.meta.url);

Deno.test("@qoda/ring works from another folder through a deno.json link", async () => {
  const dir = await Deno.makeTempDir({ prefix: "qoda-user-" });
  try {
    const repo = decodeURIComponent(REPO.pathname);
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ links: [repo], imports: { "@qoda/ring": "jsr:@qoda/ring@^0.1.0" } }),
    );
    await Deno.writeTextFile(
      `${dir}/lsq.ts`,
      `import type { ProblemInit, Rng, TrainProblem } from "@qoda/ring";
export function createProblem(init: ProblemInit): TrainProblem {
  const d = 8, target = new Float32Array(d).map((_, i) => i);
  return {
    name: init.name, dim: d, lowerIsBetter: true,
    layers: [{ name: "w", offset: 0, length: d, shape: [d] }],
    initial: () => new Float32Array(d),
    evaluate: (x) => ({ quality: Math.hypot(...x.map((v, i) => v - target[i])) }),
    worker: (_rank: number, _size: number, rng: Rng) => ({
      operator(x: Float32Array, out: Float32Array) {
        for (let i = 0; i < d; i++) out[i] = x[i] - target[i] + 0.01 * rng.normal();
      },
      scalars: () => ({}),
      state: () => rng.state(),
      restore: () => {},
    }),
  };
}
`,
    );
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `import { train } from "@qoda/ring";
import { createQuantizer } from "@qoda/ring/quant";
const r = await train({ problem: new URL("./lsq.ts", import.meta.url), workers: 2, steps: 150, lr: 0.5, quant: "layerwise" });
const q = createQuantizer({ scheme: "qsgd", bits: 4 });
console.log(JSON.stringify({ quality: r.metrics.quality, workers: r.workers, scheme: q.scheme }));
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts"],
      cwd: dir,
      stdin: "null",
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const r = JSON.parse(stdout.trim().split("\n").at(-1)!);
    assert.equal(r.workers, 2);
    assert.equal(r.scheme, "qsgd");
    assert.ok(
      r.quality < 0.5,
      `distance to the target ${r.quality} (from ${Math.hypot(...[0, 1, 2, 3, 4, 5, 6, 7])})`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("importing @qoda/ring loads no tfjs", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("mod.ts", REPO).pathname],
    cwd: decodeURIComponent(REPO.pathname),
    stdin: "null",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout));
  const specifiers: string[] = graph.modules.map((m: { specifier: string }) => m.specifier);
  assert.ok(specifiers.some((s) => s.endsWith("/runtime/collective/allreduce.ts")));
  assert.deepEqual(specifiers.filter((s) => /tensorflow|\/models\//.test(s)), []);
});
