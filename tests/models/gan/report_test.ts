import assert from "node:assert/strict";
import { renderReport, type ReportRecord } from "../../../models/gan/report.ts";

function records(n: number): ReportRecord[] {
  const out: ReportRecord[] = [];
  for (let s = 1; s <= n; s++) {
    out.push({
      step: s,
      seconds: s * 0.05,
      loss_g: 1 / s,
      loss_d: -1 / s,
      ...(s % 10 === 0 ? { quality: 100 - s } : {}),
      bits_per_coord: 4 + (s % 3) * 0.01,
      eps: { dense: 0.1 / s, bias: 0.2 / s, ...(s > 20 ? { conv: 0.05 } : {}) },
      timings: { compute_ms: 10, quantize_ms: 2, communicate_ms: 3 + s / n, optimizer_ms: 1 },
    });
  }
  return out;
}

/** The part of `html` inside `<section id="id">…</section>`. */
function section(html: string, id: string): string {
  const m = html.match(new RegExp(`<section id="${id}">([\\s\\S]*?)</section>`));
  assert.ok(m, `section ${id} missing`);
  return m[1];
}

function polylines(html: string): Map<string, { n: number; points: number[][] }> {
  const out = new Map<string, { n: number; points: number[][] }>();
  for (
    const m of html.matchAll(
      /<polyline class="series" data-name="([^"]*)" data-n="(\d+)"[^>]* points="([^"]*)"/g,
    )
  ) {
    out.set(m[1], {
      n: Number(m[2]),
      points: m[3].split(" ").map((p) => p.split(",").map(Number)),
    });
  }
  return out;
}

Deno.test("renderReport() draws every section from the records", () => {
  const recs = records(40);
  const html = renderReport({
    title: "wgan <test>",
    config: { dataset: "gaussians8", workers: 2, quant: { scheme: "layerwise", bits: 4 } },
    records: recs,
    levels: { version: 3, levels: { dense: [0, 0.1, 0.4, 1], bias: [0, 0.5, 1] } },
    quality: { name: "FID", lowerIsBetter: true },
  });
  assert.ok(html.startsWith("<!DOCTYPE html>"));
  assert.ok(html.includes("<title>wgan &lt;test&gt;</title>"));
  assert.ok(
    !/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/.test(html),
    "no scripts or external assets",
  );

  const losses = polylines(section(html, "losses"));
  assert.equal(losses.get("loss_g")?.n, 40);
  assert.equal(losses.get("loss_d")?.n, 40);
  assert.equal(losses.get("loss_g")?.points.length, 40);
  // loss_g falls: its first point is drawn higher (smaller y) than its last.
  const g = losses.get("loss_g")!.points;
  assert.ok(g[0][1] < g[39][1]);
  assert.ok(g[0][0] < g[39][0]);

  const quality = polylines(section(html, "quality"));
  assert.equal(quality.get("FID")?.n, 4); // steps 10, 20, 30, 40
  const summary = section(html, "summary");
  assert.ok(summary.includes("60 (step 40)"), "best FID is the lowest, at step 40");
  assert.ok(summary.includes("lower is better"));

  const timings = section(html, "timings");
  assert.equal((timings.match(/<g class="bar"/g) ?? []).length, 24);
  assert.equal((timings.match(/<rect data-part="compute"/g) ?? []).length, 24);
  assert.ok(timings.includes('data-part="communicate"'));
  // Means over all 40 steps: communicate = 3 + mean(s/40) = 3.5125 → "3.513".
  assert.match(timings, /<td>communicate<\/td><td>3\.513<\/td>/);
  assert.match(timings, /<td>total<\/td><td>16\.51<\/td>/);

  assert.equal(polylines(section(html, "bits")).get("bits_per_coord")?.n, 40);
  const eps = polylines(section(html, "eps"));
  assert.deepEqual([...eps.keys()].sort(), ["bias", "conv", "dense"]);
  assert.equal(eps.get("conv")?.n, 20);

  const levels = section(html, "levels");
  assert.ok(levels.includes("version 3"));
  const dense = levels.match(/data-type="dense">([\s\S]*?)<\/div>/)![1];
  assert.deepEqual(
    [...dense.matchAll(/class="level" data-value="([^"]*)"/g)].map((m) => Number(m[1])),
    [0, 0.1, 0.4, 1],
  );
  assert.ok(dense.includes("0, 0.1, 0.4, 1"));

  const config = section(html, "config");
  assert.ok(config.includes("<td>gaussians8</td>"));
  assert.ok(config.includes("{&quot;scheme&quot;:&quot;layerwise&quot;,&quot;bits&quot;:4}"));
  assert.ok(!html.includes('id="samples"'));
});

Deno.test("renderReport() embeds samples.png as a data URL and copes with missing data", () => {
  const png = new Uint8Array([137, 80, 78, 71, 1, 2, 3]);
  const html = renderReport({
    config: {},
    records: [{ step: 1, seconds: 0.1, loss_g: NaN }],
    samplesPng: png,
  });
  assert.ok(
    section(html, "samples").includes(
      `src="data:image/png;base64,${btoa(String.fromCharCode(...png))}"`,
    ),
  );
  assert.ok(section(html, "losses").includes("no data"));
  assert.ok(section(html, "timings").includes("no timings recorded"));
  assert.ok(section(html, "levels").includes("none"));
  assert.ok(section(html, "eps").includes("no ε_Q recorded"));
});

Deno.test("renderReport() escapes names that come from the run", () => {
  const html = renderReport({
    config: { "<b>": "</td><script>" },
    records: [{ step: 1, seconds: 1, eps: { '"x<y"': 0.1 } }, {
      step: 2,
      seconds: 2,
      eps: { '"x<y"': 0.2 },
    }],
    levels: { version: 1, levels: { "<t>": [0, 1] } },
  });
  assert.ok(!html.includes("<script>"));
  assert.ok(html.includes("&lt;/td&gt;&lt;script&gt;"));
  assert.ok(html.includes('data-name="&quot;x&lt;y&quot;"'));
  assert.ok(html.includes('data-type="&lt;t&gt;"'));
});

Deno.test("renderReport() draws a series that is constant up to rounding", () => {
  // Found in a real run: bits per coordinate 4.047523274030604 ± 1 ulp made the tick loop run away.
  const a = new Float64Array([4.047523274030604]);
  const next = new Float64Array(a);
  new BigUint64Array(next.buffer)[0] += 1n; // the next double after a
  const recs = records(30).map((r, i) => ({ ...r, bits_per_coord: i % 2 ? next[0] : a[0] }));
  const html = renderReport({ config: {}, records: recs });
  const bits = polylines(section(html, "bits")).get("bits_per_coord");
  assert.ok(bits && bits.n === 30);
  assert.ok(bits.points.every(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
});
