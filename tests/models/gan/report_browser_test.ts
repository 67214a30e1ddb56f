// report.html of a real short run, rendered by headless Chromium: no console or script errors,
// every section present and laid out (summary, settings, each curve, the samples with their
// caption), and no text of a chart on its plot area or on another text. Ignored where Chromium
// is missing, except in CI (CI installs Debian's chromium).
import assert from "node:assert/strict";
import { runScript } from "../../_support/run_script.ts";

/** The first Chromium that answers `--version`, or null. */
async function findChromium(): Promise<string | null> {
  for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
    try {
      const r = await new Deno.Command(name, {
        args: ["--version"],
        stdout: "null",
        stderr: "null",
      })
        .output();
      if (r.success) return name;
    } catch {
      // not installed
    }
  }
  return null;
}

const CHROMIUM = await findChromium();

/** Renders `file` headless; returns the DOM after the load event and Chromium's stderr. */
async function dumpDom(file: string): Promise<{ dom: string; stderr: string }> {
  const profile = await Deno.makeTempDir();
  try {
    const r = await new Deno.Command(CHROMIUM!, {
      args: [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        `--user-data-dir=${profile}`,
        "--window-size=1200,2400",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        `file://${file}`,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const dec = new TextDecoder();
    assert.equal(r.code, 0, dec.decode(r.stderr));
    return { dom: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
  } finally {
    await Deno.remove(profile, { recursive: true });
  }
}

/** Console messages (console.* and uncaught errors) in Chromium's log. */
function consoleLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => /:CONSOLE[:(]/.test(l));
}

const CURVES = ["quality", "losses", "timings", "eps", "bits"];
const SECTIONS = ["summary", "settings", ...CURVES, "samples", "levels"];

/** Runs in the page (a copy of the report): measures the layout, writes JSON into the DOM. */
const HOOK =
  `<script>window.__errors=[];window.onerror=function(m,s,l){window.__errors.push(m+" ("+l+")")};` +
  `window.addEventListener("unhandledrejection",function(e){window.__errors.push(String(e.reason))});</script>`;
const CHECK = `<script>
window.addEventListener("load", function () {
  var sections = ${JSON.stringify(SECTIONS)}, curves = ${JSON.stringify(CURVES)};
  var out = { errors: window.__errors, sections: {}, tops: [], curves: {}, overlaps: [], outside: [] };
  function hit(a, b) {
    return a.left < b.right - 0.5 && a.right > b.left + 0.5 && a.top < b.bottom - 0.5 &&
      a.bottom > b.top + 0.5;
  }
  sections.forEach(function (id) {
    var s = document.getElementById(id);
    var r = s && s.getBoundingClientRect();
    out.sections[id] = !!s && s.tagName === "SECTION" && r.height > 0 && r.width > 0;
    out.tops.push(r ? [r.top, r.left] : null);
  });
  curves.forEach(function (id) {
    var svg = document.querySelector("#" + id + " svg.chart");
    var plot = svg && svg.querySelector("rect.plot");
    out.curves[id] = {
      width: svg ? svg.getBoundingClientRect().width : 0,
      lines: svg ? svg.querySelectorAll("polyline.series").length : 0,
      bars: svg ? svg.querySelectorAll("g.bar").length : 0,
      texts: svg ? svg.querySelectorAll("text").length : 0,
    };
    if (!plot) return;
    var P = plot.getBoundingClientRect();
    var texts = Array.prototype.map.call(svg.querySelectorAll("text"), function (t) {
      return { t: t.textContent, r: t.getBoundingClientRect() };
    });
    texts.forEach(function (a, i) {
      if (hit(a.r, P)) out.overlaps.push(id + ": '" + a.t + "' on the plot area");
      texts.slice(i + 1).forEach(function (b) {
        if (hit(a.r, b.r)) out.overlaps.push(id + ": '" + a.t + "' on '" + b.t + "'");
      });
    });
    svg.querySelectorAll("polyline.series, circle.marker, g.bar rect").forEach(function (l) {
      var r = l.getBoundingClientRect();
      if (r.left < P.left - 4 || r.right > P.right + 4 || r.top < P.top - 4 || r.bottom > P.bottom + 4) {
        out.outside.push(id + ": " + l.tagName + " outside the plot area");
      }
    });
  });
  var img = document.querySelector("#samples img");
  out.samples = {
    natural: img ? img.naturalWidth : 0,
    shown: img ? img.getBoundingClientRect().width : 0,
    caption: (document.querySelector("#samples figcaption") || {}).textContent || "",
  };
  out.cards = Array.prototype.map.call(document.querySelectorAll("#summary .card"), function (c) {
    return c.getAttribute("data-key") + ": " + c.querySelector(".value").textContent;
  });
  out.settings = Array.prototype.map.call(
    document.querySelectorAll("#settings tr td:first-child"),
    function (td) { return td.textContent; },
  );
  var pre = document.createElement("pre");
  pre.id = "__check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>`;

Deno.test({
  name: "report.html of a real run renders in headless Chromium: every section, no errors, " +
    "no label on a plot",
  ignore: CHROMIUM === null && Deno.env.get("CI") !== "true",
  async fn() {
    assert.ok(CHROMIUM, "chromium is not installed (.ci/run installs Debian's chromium)");
    const dir = await Deno.makeTempDir();
    try {
      const run = await runScript("train.ts", [
        "--steps",
        "40",
        "--eval-every",
        "20",
        "--out",
        dir,
        "--quiet",
      ]);
      assert.equal(run.code, 0, run.stderr);
      const report = `${dir}/report.html`;
      const html = await Deno.readTextFile(report);
      assert.doesNotMatch(html, /<script|<link|src="http|url\(/i, "self-contained, no scripts");

      // The report as it is: Chromium logs no console message and draws every section.
      const plain = await dumpDom(report);
      assert.deepEqual(consoleLines(plain.stderr), [], "console messages");
      for (const id of SECTIONS) assert.match(plain.dom, new RegExp(`<section id="${id}">`));

      // A copy with an error hook and a layout check.
      const copy = `${dir}/report_check.html`;
      await Deno.writeTextFile(
        copy,
        html.replace("<head>", `<head>\n${HOOK}`).replace("</body>", `${CHECK}\n</body>`),
      );
      const checked = await dumpDom(copy);
      assert.deepEqual(consoleLines(checked.stderr), [], "console messages");
      const m = checked.dom.match(/<pre id="__check">([\s\S]*?)<\/pre>/);
      assert.ok(m, "the check did not run");
      const out = JSON.parse(
        m[1].replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">")
          .replace(/&amp;/g, "&"),
      );
      assert.deepEqual(out.errors, [], "script errors");
      for (const id of SECTIONS) assert.ok(out.sections[id], `section ${id} missing or empty`);
      // In order down the page (the curves and the samples two to a row).
      const tops = (out.tops as [number, number][]).map(([t]) => t);
      for (let i = 1; i < tops.length; i++) {
        assert.ok(tops[i] >= tops[i - 1] - 1, `${SECTIONS[i]} above ${SECTIONS[i - 1]}`);
      }
      for (const id of CURVES) {
        const c = out.curves[id];
        assert.ok(c.width >= 400, `${id}: chart ${c.width} px wide`);
        assert.ok(c.lines + c.bars > 0, `${id}: nothing drawn`);
        assert.ok(c.texts >= 6, `${id}: ${c.texts} labels`);
      }
      assert.deepEqual(out.overlaps, [], "texts on plots or on each other");
      assert.deepEqual(out.outside, [], "marks outside the plot area");

      assert.ok(out.samples.natural > 0, "samples.png did not load");
      assert.ok(out.samples.shown >= 400, `samples drawn ${out.samples.shown} px wide`);
      assert.match(out.samples.caption, /at step 40, Fréchet distance \d/);

      const cards = (out.cards as string[]).join("\n");
      for (const k of ["quality", "steps", "time", "bytes", "bits", "float32", "replicas"]) {
        assert.match(cards, new RegExp(`^${k}: `, "m"), `summary lacks ${k}`);
      }
      assert.match(cards, /^steps: 40$/m);
      assert.match(cards, /^replicas: yes$/m);
      // Settings only: no results among them.
      const settings = out.settings as string[];
      for (const s of ["dataset", "workers", "quantizer", "steps", "collective timeout"]) {
        assert.ok(settings.includes(s), `settings lack ${s}`);
      }
      for (const s of settings) {
        assert.doesNotMatch(s, /fid|bytes|evals|replicas agree|_ms|seconds/, `result ${s}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
