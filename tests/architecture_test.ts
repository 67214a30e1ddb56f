// The house's layers, read from every import of every source file:
//   runtime/ (data path and optimisers) ← actors/ (actor core and training
//   runtime) ← models/ (problems, tfjs tooling) ← scripts/ (composition roots),
// with mod.ts above runtime/ and actors/ only. Inside runtime/, each package
// imports only the packages below it (transport below collective). No cycle
// between files, and tfjs is loaded by models/ and scripts/ alone.
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const LAYERS = ["runtime", "actors", "models", "scripts"] as const;
/** runtime/ packages, bottom first; a package may import its own and lower ones. */
const RUNTIME_ORDER = [
  "errors.ts",
  "rng.ts",
  "kernels",
  "quant",
  "coding",
  "wire",
  "transport",
  "collective",
  "optim",
];

async function sourceFiles(dir: string, out: string[] = []): Promise<string[]> {
  for await (const e of Deno.readDir(new URL(dir, ROOT))) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) await sourceFiles(p, out);
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

const SPEC =
  /(?:^|[^\w.])(?:import|export)\s*(?:type\s+)?(?:[^"';]*?\sfrom\s*)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|new URL\(\s*["']([^"']+\.ts)["']\s*,\s*import\.meta\.url/g;

/** Import specifiers of a source file, comments and JSDoc examples left out. */
function specifiers(src: string): string[] {
  const code = src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  for (const m of code.matchAll(SPEC)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

function resolve(from: string, spec: string): string | null {
  if (!spec.startsWith(".")) return null;
  const url = new URL(spec, new URL(from, ROOT));
  return url.pathname.slice(ROOT.pathname.length);
}

const files = [
  "mod.ts",
  ...(await Promise.all(LAYERS.map((l) => sourceFiles(l)))).flat(),
].sort();
const graph = new Map<string, { local: string[]; bare: string[] }>();
for (const f of files) {
  const specs = specifiers(await Deno.readTextFile(new URL(f, ROOT)));
  const local: string[] = [], bare: string[] = [];
  for (const s of specs) {
    const r = resolve(f, s);
    if (r === null) bare.push(s);
    else local.push(r);
  }
  graph.set(f, { local, bare });
}

function layerOf(f: string): number {
  if (f === "mod.ts") return 1.5; // above runtime/ and actors/, below models/
  return LAYERS.indexOf(f.split("/")[0] as typeof LAYERS[number]);
}

function runtimePackage(f: string): number {
  const part = f.split("/")[1];
  const i = RUNTIME_ORDER.indexOf(part);
  if (i < 0) throw new Error(`${f}: runtime/${part} is not in the package order of this test`);
  return i;
}

Deno.test("every import points down the layers: runtime ← actors ← models ← scripts", () => {
  const bad: string[] = [];
  for (const [f, { local }] of graph) {
    for (const t of local) {
      if (!graph.has(t) && !t.endsWith(".ts")) continue;
      if (!graph.has(t)) {
        bad.push(`${f} imports ${t}, which is not a source file of the layers`);
      } else if (layerOf(t) > layerOf(f)) bad.push(`${f} → ${t} points up the layers`);
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("inside runtime/, each package imports only itself and the packages below it", () => {
  const bad: string[] = [];
  for (const [f, { local }] of graph) {
    if (!f.startsWith("runtime/")) continue;
    for (const t of local) {
      if (!t.startsWith("runtime/")) bad.push(`${f} → ${t} leaves runtime/`);
      else if (runtimePackage(t) > runtimePackage(f)) bad.push(`${f} → ${t} points up`);
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("a private _file.ts is imported only from its own folder and the folders below it", () => {
  const dir = (p: string) => p.slice(0, p.lastIndexOf("/") + 1);
  const bad: string[] = [];
  for (const [f, { local }] of graph) {
    for (const t of local) {
      const name = t.slice(t.lastIndexOf("/") + 1);
      if (name.startsWith("_") && !dir(f).startsWith(dir(t))) bad.push(`${f} → ${t}`);
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("tfjs is loaded by models/ and scripts/ only: runtime/, actors/ and mod.ts never", () => {
  const bad: string[] = [];
  for (const [f, { bare }] of graph) {
    if (layerOf(f) >= 2) continue;
    for (const s of bare) if (s.includes("tensorflow")) bad.push(`${f} imports ${s}`);
  }
  assert.deepEqual(bad, []);
});

Deno.test("no cycle between files", () => {
  // Tarjan's strongly connected components.
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], on = new Set<string>(), cycles: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v)!.local.filter((t) => graph.has(t))) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || graph.get(v)!.local.includes(v)) cycles.push(scc.sort());
    }
  };
  for (const f of graph.keys()) if (!idx.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});

Deno.test("the architecture test sees the imports it checks", () => {
  // Guards against a parser that finds nothing: known edges must be seen.
  assert.ok(graph.get("actors/worker.ts")!.local.includes("runtime/collective/allreduce.ts"));
  assert.ok(graph.get("models/gan/job.ts")!.local.includes("actors/problem.ts"));
  assert.ok(graph.get("runtime/wire/codec.ts")!.bare.length > 0, "capnp-es is a bare import");
  assert.ok(graph.size > 100, `only ${graph.size} files`);
});
