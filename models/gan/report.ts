/**
 * The run report: one self-contained `report.html` (inline SVG and CSS, no
 * scripts, no external assets) built from a run's per-step records, its
 * configuration and the current level tables of the layer-wise quantizer.
 *
 * Sections (each a `<section id=…>`): `summary`, `config`, `losses`
 * (loss_g, loss_d), `quality` (the problem's figure), `timings` (compute /
 * quantize / communicate / optimiser, stacked bars over the run and a table
 * of means), `bits` (bits per coordinate), `eps` (measured ε_Q per layer
 * type, log scale), `levels` (each type's levels on [0, 1], drawn and
 * listed) and, when given, `samples` (the `samples.png` image as a data URL).
 *
 * @module
 */
import type { LevelTable } from "../../runtime/quant/layerwise.ts";
import { escapeHtml, fmt, lineChart, type Series, stackedBars } from "./_svg.ts";

/** Milliseconds of one step, by phase. */
export interface StepTimings {
  /** The operator (forward and backward passes). */
  compute_ms: number;
  /** Quantizing and encoding. */
  quantize_ms: number;
  /** The collective (sending, receiving, decoding, reducing). */
  communicate_ms: number;
  /** The optimiser's update. */
  optimizer_ms: number;
}

/** The phases of {@linkcode StepTimings}, in stacking order. */
export const TIMING_PARTS = [
  "compute_ms",
  "quantize_ms",
  "communicate_ms",
  "optimizer_ms",
] as const;

/** One record of the run (a field left out is not plotted for that step). */
export interface ReportRecord {
  /** Iteration. */
  step: number;
  /** Seconds since the start of the run. */
  seconds: number;
  /** Generator loss. */
  loss_g?: number;
  /** Critic loss. */
  loss_d?: number;
  /** The problem's quality figure (usually only on evaluation steps). */
  quality?: number;
  /** Bits sent per coordinate of the operator. */
  bits_per_coord?: number;
  /** Measured ε_Q per layer type. */
  eps?: Record<string, number>;
  /** Where the step's time went. */
  timings?: StepTimings;
}

/** Everything {@linkcode renderReport} draws. */
export interface ReportInput {
  /** Page title. @default {"qoda-ring run"} */
  title?: string;
  /** The run's configuration, shown as a table (values JSON-encoded unless strings). */
  config: Record<string, unknown>;
  /** The records, in step order. */
  records: readonly ReportRecord[];
  /** The current level tables (layer-wise quantizer); the section says "none" without. */
  levels?: LevelTable | null;
  /** Name of the quality figure and its direction. @default {{ name: "quality", lowerIsBetter: false }} */
  quality?: { name: string; lowerIsBetter: boolean };
  /** `samples.png` bytes, embedded as a data URL. */
  samplesPng?: Uint8Array;
}

/** Bars of the timing chart at most. */
const MAX_BARS = 24;

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function series(
  records: readonly ReportRecord[],
  name: string,
  get: (r: ReportRecord) => number | undefined,
): Series {
  const points: [number, number][] = [];
  for (const r of records) {
    const v = get(r);
    if (typeof v === "number" && Number.isFinite(v)) points.push([r.step, v]);
  }
  return { name, points };
}

function section(id: string, title: string, body: string): string {
  return `<section id="${id}">\n<h2>${escapeHtml(title)}</h2>\n${body}\n</section>`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const th = header.map((h) => `<th>${escapeHtml(h)}</th>`).join("");
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`);
  return `<table>\n<tr>${th}</tr>\n${trs.join("\n")}\n</table>`;
}

function timingsSection(records: readonly ReportRecord[]): string {
  const timed = records.filter((r) => r.timings);
  if (timed.length === 0) return "<p>no timings recorded</p>";
  const bins = Math.min(MAX_BARS, timed.length);
  const bars: { label: string; values: number[] }[] = [];
  for (let b = 0; b < bins; b++) {
    const from = Math.floor((b * timed.length) / bins),
      to = Math.floor(((b + 1) * timed.length) / bins);
    const slice = timed.slice(from, to);
    const values = TIMING_PARTS.map((p) =>
      slice.reduce((s, r) => s + r.timings![p], 0) / slice.length
    );
    bars.push({ label: String(slice[slice.length - 1].step), values });
  }
  const means = TIMING_PARTS.map((p) =>
    timed.reduce((s, r) => s + r.timings![p], 0) / timed.length
  );
  const total = means.reduce((a, b) => a + b, 0);
  const rows = TIMING_PARTS.map((p, i) => [
    p.replace(/_ms$/, ""),
    fmt(means[i]),
    total > 0 ? `${(100 * means[i] / total).toFixed(1)}%` : "–",
  ]);
  rows.push(["total", fmt(total), "100%"]);
  return `<p>Mean milliseconds per step over ${timed.length} steps (bars: consecutive groups of steps, ` +
    `labelled by their last step).</p>\n` +
    stackedBars(bars, TIMING_PARTS.map((p) => p.replace(/_ms$/, "")), "ms per step") + "\n" +
    `<div id="timings-table">${table(["phase", "mean ms", "share"], rows)}</div>`;
}

function levelsSection(levels: LevelTable | null | undefined): string {
  if (!levels || Object.keys(levels.levels).length === 0) {
    return "<p>none (no layer-wise quantizer)</p>";
  }
  const W = 420, H = 26;
  const parts = [`<p>Level table version ${levels.version}.</p>`];
  for (const [type, ls] of Object.entries(levels.levels)) {
    const ticks = ls.map((l) =>
      `<line class="level" data-value="${l}" x1="${(10 + l * (W - 20)).toFixed(1)}" y1="4" ` +
      `x2="${(10 + l * (W - 20)).toFixed(1)}" y2="${H - 4}" stroke="#1f77b4" stroke-width="1.5"/>`
    );
    parts.push(
      `<div class="level-type" data-type="${escapeHtml(type)}">`,
      `<h3>${escapeHtml(type)} (${ls.length} levels)</h3>`,
      `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">` +
        `<line x1="10" y1="${H / 2}" x2="${W - 10}" y2="${H / 2}" stroke="#999"/>${
          ticks.join("")
        }</svg>`,
      `<p class="values">${ls.map((l) => fmt(l)).join(", ")}</p>`,
      "</div>",
    );
  }
  return parts.join("\n");
}

/**
 * Renders the report. Pure: the same input gives the same string.
 *
 * @param input Records, configuration, level tables and the optional sample image.
 * @returns A complete HTML document.
 *
 * @example A two-step run
 * ```ts
 * import { renderReport } from "./mod.ts";
 * const t = { compute_ms: 10, quantize_ms: 1, communicate_ms: 2, optimizer_ms: 0.5 };
 * const html = renderReport({
 *   config: { dataset: "gaussians8", workers: 2 },
 *   records: [
 *     { step: 1, seconds: 0.1, loss_g: 0.5, loss_d: -0.2, bits_per_coord: 4.1, eps: { dense: 0.1 }, timings: t },
 *     { step: 2, seconds: 0.2, loss_g: 0.4, loss_d: -0.3, quality: 3, bits_per_coord: 4.1, eps: { dense: 0.09 }, timings: t },
 *   ],
 *   levels: { version: 1, levels: { dense: [0, 0.25, 1] } },
 * });
 * if (!html.includes('id="timings"') || !html.includes('data-name="loss_g"')) throw new Error();
 * ```
 */
export function renderReport(input: ReportInput): string {
  const { title = "qoda-ring run", config, records, levels } = input;
  const q = input.quality ?? { name: "quality", lowerIsBetter: false };
  const last = records.at(-1);
  const qs = records.filter((r) => typeof r.quality === "number" && Number.isFinite(r.quality));
  const best = qs.length === 0 ? undefined : qs.reduce((
    a,
    b,
  ) => ((q.lowerIsBetter ? b.quality! < a.quality! : b.quality! > a.quality!) ? b : a));
  const summary = table(["", ""], [
    ["steps", last ? String(last.step) : "0"],
    ["seconds", last ? fmt(last.seconds) : "0"],
    [`last ${q.name}`, qs.length ? `${fmt(qs.at(-1)!.quality!)} (step ${qs.at(-1)!.step})` : "–"],
    [
      `best ${q.name} (${q.lowerIsBetter ? "lower" : "higher"} is better)`,
      best ? `${fmt(best.quality!)} (step ${best.step})` : "–",
    ],
  ]);
  const configRows = Object.entries(config).map(([k, v]) => [
    k,
    typeof v === "string" ? v : JSON.stringify(v) ?? String(v),
  ]);
  const types = [...new Set(records.flatMap((r) => Object.keys(r.eps ?? {})))].sort();
  const eps = types.map((t) => series(records, t, (r) => r.eps?.[t]));
  const sections = [
    section("summary", "Summary", summary),
    section("config", "Configuration", table(["option", "value"], configRows)),
    section(
      "losses",
      "Losses",
      lineChart([
        series(records, "loss_g", (r) => r.loss_g),
        series(records, "loss_d", (r) => r.loss_d),
      ], { yLabel: "loss" }),
    ),
    section(
      "quality",
      `Quality: ${q.name}`,
      lineChart([series(records, q.name, (r) => r.quality)], { yLabel: q.name }),
    ),
    section("timings", "Step time", timingsSection(records)),
    section(
      "bits",
      "Bits per coordinate",
      lineChart([series(records, "bits_per_coord", (r) => r.bits_per_coord)], { yLabel: "bits" }),
    ),
    section(
      "eps",
      "Measured ε_Q per layer type",
      types.length ? lineChart(eps, { yLabel: "ε_Q", logY: true }) : "<p>no ε_Q recorded</p>",
    ),
    section("levels", "Level tables", levelsSection(levels)),
  ];
  if (input.samplesPng) {
    sections.push(section(
      "samples",
      "Samples",
      `<img alt="generated samples" src="data:image/png;base64,${base64(input.samplesPng)}"/>`,
    ));
  }
  return [
    "<!DOCTYPE html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8"/>',
    `<title>${escapeHtml(title)}</title>`,
    "<style>body{font-family:sans-serif;max-width:960px;margin:1em auto;color:#222}" +
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}" +
    "section{margin:1.5em 0}h3{margin:0.6em 0 0.2em;font-size:1em}.values{font-family:monospace;" +
    "font-size:0.85em;margin:0}</style>",
    "</head>",
    "<body>",
    `<h1>${escapeHtml(title)}</h1>`,
    ...sections,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
