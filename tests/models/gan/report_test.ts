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
    settings: {
      dataset: "gaussians8",
      workers: 2,
      quantizer: "layerwise, 4 bits",
      lr: 3.14159265,
      timeout: { value: 60000, unit: "ms" },
      warmup: [20, 100, 500],
      target: null,
      unset: undefined,
    },
    summary: {
      seconds: 12.6349,
      workers: 2,
      stepMs: 133.82789,
      bytesSent: 28_949_040,
      bitsPerCoord: 4.047523274030608,
      collective: "auto: allgather",
      float32Bytes: 228_925_440,
      replicasAgree: true,
      checksumEvery: 50,
    },
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
  const card = (key: string) => {
    const m = summary.match(new RegExp(`data-key="${key}">([\\s\\S]*?)</div></div>`));
    assert.ok(m, `summary card ${key} missing`);
    return m[1].replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim();
  };
  // The final FID (step 40) is also the best: no "best" note; the start is step 10's.
  assert.equal(card("quality"), "final FID 60 lower is better · start 90");
  assert.equal(card("steps"), "steps 40 2 workers");
  assert.equal(card("time"), "wall time 12.6 s 133.8 ms per step");
  assert.equal(card("bytes"), "bytes sent 28.9 MB payload, all workers");
  assert.equal(
    card("bits"),
    "bits per coordinate 4.048 collective auto: allgather · float32: 32",
  );
  assert.equal(
    card("float32"),
    "bytes saved against float32 7.9× fewer float32 would send 228.9 MB",
  );
  assert.equal(card("replicas"), "replicas agree yes checksums compared every 50 steps");

  const timings = section(html, "timings");
  assert.equal((timings.match(/<g class="bar"/g) ?? []).length, 24);
  assert.equal((timings.match(/<rect data-part="compute"/g) ?? []).length, 24);
  assert.ok(timings.includes('data-part="communicate"'));
  // Means over all 40 steps: communicate = 3 + mean(s/40) = 3.5125 → "3.513"; total 16.51.
  assert.match(
    timings,
    /<td>mean ms<\/td><td>10<\/td><td>2<\/td><td>3\.513<\/td><td>1<\/td><td>16\.51<\/td>/,
  );

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

  const settings = section(html, "settings");
  for (
    const row of [
      "<td>dataset</td><td>gaussians8</td>",
      "<td>quantizer</td><td>layerwise, 4 bits</td>",
      "<td>lr</td><td>3.142</td>",
      "<td>timeout</td><td>60,000 ms</td>",
      "<td>warmup</td><td>20, 100, 500</td>",
      "<td>target</td><td>none</td>",
    ]
  ) assert.ok(settings.includes(row), `settings lack ${row}`);
  assert.ok(!settings.includes("unset"), "undefined settings are left out");
  assert.ok(!html.includes('id="samples"'));
  // Summary, then settings, then the curves, then the level tables.
  const order = ["summary", "settings", "quality", "losses", "timings", "eps", "bits", "levels"]
    .map((id) => html.indexOf(`<section id="${id}">`));
  assert.deepEqual(order, [...order].sort((a, b) => a - b));
});

Deno.test("renderReport() embeds samples.png as a data URL and copes with missing data", () => {
  const png = new Uint8Array([137, 80, 78, 71, 1, 2, 3]);
  const html = renderReport({
    settings: {},
    records: [{ step: 1, seconds: 0.1, loss_g: NaN }],
    samplesPng: png,
  });
  assert.ok(
    section(html, "samples").includes(
      `src="data:image/png;base64,${btoa(String.fromCharCode(...png))}"`,
    ),
  );
  assert.match(section(html, "samples"), /<figcaption>Generator samples at step 1\.<\/figcaption>/);
  assert.ok(section(html, "summary").includes("not evaluated"));
  assert.ok(section(html, "losses").includes("no data"));
  assert.ok(section(html, "timings").includes("no timings recorded"));
  assert.ok(section(html, "levels").includes("none"));
  assert.ok(section(html, "eps").includes("no ε_Q recorded"));
});

Deno.test("renderReport() escapes names that come from the run", () => {
  const html = renderReport({
    settings: { "<b>": "</td><script>" },
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
  const html = renderReport({ settings: {}, records: recs });
  const bits = polylines(section(html, "bits")).get("bits_per_coord");
  assert.ok(bits && bits.n === 30);
  assert.ok(bits.points.every(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
});

Deno.test("renderReport() captions the samples with the step and the quality, drawn at a readable size", () => {
  // A 242 × 242 PNG header (the 8 × 8 grid of digits): drawn at twice its size.
  const png = new Uint8Array(33);
  png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 73, 72, 68, 82]);
  new DataView(png.buffer).setUint32(16, 242);
  new DataView(png.buffer).setUint32(20, 242);
  const html = renderReport({
    settings: {},
    records: records(40),
    quality: { name: "Fréchet distance", lowerIsBetter: true },
    samplesPng: png,
    samplesCaption: "64 generated digits",
  });
  const samples = section(html, "samples");
  assert.match(samples, /<img alt="generated samples" width="484" height="484"/);
  assert.match(
    samples,
    /<figcaption>64 generated digits at step 40, Fréchet distance 60 \(lower is better\)\.<\/figcaption>/,
  );
});

/** The numbers of an SVG element's attribute. */
function num(tag: string, attr: string): number {
  const m = tag.match(new RegExp(` ${attr}="([-0-9.e]+)"`));
  assert.ok(m, `${attr} missing in ${tag}`);
  return Number(m[1]);
}

Deno.test("charts keep tick labels, axis titles and legends outside the plot area", () => {
  const recs = records(200).map((r) => ({ ...r, loss_g: 12345.678 / r.step }));
  const html = renderReport({ settings: {}, records: recs });
  const charts = [...html.matchAll(/<svg class="chart"[\s\S]*?<\/svg>/g)].map((m) => m[0]);
  assert.equal(charts.length, 5, "quality, losses, timings, ε_Q, bits");
  for (const chart of charts) {
    const rect = chart.match(/<rect class="plot"[^>]*>/)![0];
    const x0 = num(rect, "x"), y0 = num(rect, "y");
    const x1 = x0 + num(rect, "width"), y1 = y0 + num(rect, "height");
    const texts = [...chart.matchAll(/<text class="(tick|legend|axis-title)"[^>]*>/g)];
    assert.ok(texts.length > 5);
    for (const [tag, cls] of texts) {
      const x = num(tag, "x"), y = num(tag, "y");
      if (cls === "tick" && tag.includes('text-anchor="end"')) {
        assert.ok(x < x0, `y tick label at x ${x} inside the plot (from ${x0})`);
      } else if (cls === "tick") {
        assert.ok(y > y1, `x tick label at y ${y} inside the plot (to ${y1})`);
      } else if (cls === "legend") {
        assert.ok(y < y0 - 6, `legend at y ${y} inside the plot (from ${y0})`);
      } else assert.ok(x < x0 || y > y1, `axis title at ${x},${y} inside the plot`);
    }
    // Every line stays inside the plot area.
    for (const m of chart.matchAll(/<polyline class="series"[^>]* points="([^"]*)"/g)) {
      for (const p of m[1].split(" ")) {
        const [x, y] = p.split(",").map(Number);
        assert.ok(x >= x0 && x <= x1 && y >= y0 && y <= y1, `point ${p} outside the plot`);
      }
    }
  }
});

Deno.test("renderReport(): a quality that never moved has no start or best note, and a count stays at or above 0", () => {
  const recs = records(30).map((r) => (r.quality === undefined ? r : { ...r, quality: 0 }));
  const html = renderReport({
    settings: {},
    records: recs,
    quality: { name: "modes covered", lowerIsBetter: false },
  });
  const card = section(html, "summary").match(/data-key="quality">([\s\S]*?)<\/div><\/div>/)![1]
    .replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim();
  assert.equal(card, "final modes covered 0 higher is better");
  const ticks = [...section(html, "quality").matchAll(/text-anchor="end"[^>]*>([^<]*)</g)]
    .map((m) => Number(m[1]));
  assert.ok(ticks.length >= 2 && Math.min(...ticks) === 0, `y ticks ${ticks}`);
});
