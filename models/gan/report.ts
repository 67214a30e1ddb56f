/**
 * The run report: one self-contained `report.html` (inline SVG and CSS, no
 * scripts, no external assets) built from a run's per-evaluation records,
 * its settings, a summary of its results and the current level tables of the
 * layer-wise quantizer.
 *
 * Sections, in order (each a `<section id=…>`):
 * - `summary`: the final quality and its metric (start and best), steps, wall
 *   time, bytes sent, bits per coordinate, bytes saved (and, where measured,
 *   the speedup) against float32, whether the replicas agree;
 * - `settings`: the job's settings only, numbers rounded, with units;
 * - the curves: `quality` (the problem's figure over steps), `losses`
 *   (loss_g, loss_d), `timings` (compute / quantize / communicate /
 *   optimiser, stacked bars and a table of means), `eps` (measured ε_Q per
 *   layer type, log scale), `bits` (bits per coordinate);
 * - `samples` (when given: `samples.png` as a data URL, with a caption);
 * - `levels` (each type's levels on [0, 1], drawn and listed).
 *
 * @module
 */
import type { LevelTable } from "../../runtime/quant/layerwise.ts";
import {
  escapeHtml,
  fmt,
  formatBytes,
  formatSeconds,
  lineChart,
  round,
  type Series,
  stackedBars,
} from "./_svg.ts";

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

/** The run's results for the summary (what the records alone do not tell). */
export interface ReportSummary {
  /** Steps done. @default {the last record's step} */
  steps?: number;
  /** Wall-clock seconds of the whole run. @default {the last record's seconds} */
  seconds?: number;
  /** Worker processes. */
  workers?: number;
  /** Mean milliseconds per step. */
  stepMs?: number;
  /** Payload bytes every worker sent, in all. */
  bytesSent?: number;
  /** Mean bits per coordinate of one worker's message. */
  bitsPerCoord?: number;
  /** The collective that ran, e.g. `allgather`, or `auto: fp32` for `auto`'s choice. */
  collective?: string;
  /**
   * Bytes an uncompressed float32 exchange (ring all-reduce) would have sent
   * for the same collectives: the bytes saved are this over `bytesSent`.
   */
  float32Bytes?: number;
  /** The messages are float32 already (no quantizer). */
  uncompressed?: boolean;
  /** Wall-clock speedup against float32, where a run measured it. */
  speedupVsFloat32?: number;
  /** Whether the replicas' checksums agreed. */
  replicasAgree?: boolean;
  /** Steps between replica checksum comparisons. */
  checksumEvery?: number;
  /** Quality target and the seconds until the first evaluation that met it. */
  target?: { value: number; seconds: number | null };
  /** Why the run ended before its last step (interrupted, failed); absent when it finished. */
  endedEarly?: string;
}

/** A setting's value: shown rounded, with its unit. */
export type SettingValue =
  | string
  | number
  | boolean
  | null
  | readonly (string | number)[]
  | { value: number; unit: string };

/** Everything {@linkcode renderReport} draws. */
export interface ReportInput {
  /** Page title. @default {"qoda-ring run"} */
  title?: string;
  /** One line under the title (run folder, date, …). */
  subtitle?: string;
  /**
   * The job's settings (not its results), in display order; `undefined`
   * values are left out, `null` shows as "none".
   */
  settings: Record<string, SettingValue | undefined>;
  /** The run's results; steps and seconds default to the last record's. */
  summary?: ReportSummary;
  /** The records, in step order. */
  records: readonly ReportRecord[];
  /** The current level tables (layer-wise quantizer); the section says "none" without. */
  levels?: LevelTable | null;
  /**
   * Name of the quality figure, its direction and a sentence on what it
   * measures. @default {{ name: "quality", lowerIsBetter: false }}
   */
  quality?: { name: string; lowerIsBetter: boolean; description?: string };
  /** `samples.png` bytes, embedded as a data URL. */
  samplesPng?: Uint8Array;
  /** What the samples show (the caption adds the step and the quality). @default {"Generator samples"} */
  samplesCaption?: string;
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

/** Width and height from a PNG's IHDR chunk (null when it is not a PNG). */
function pngSize(png: Uint8Array): { width: number; height: number } | null {
  if (png.length < 24 || png[0] !== 0x89 || png[1] !== 0x50) return null;
  const v = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: v.getUint32(16), height: v.getUint32(20) };
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

function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  cls = "",
): string {
  const th = header.map((h) => `<th>${escapeHtml(h)}</th>`).join("");
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`);
  return `<table${cls ? ` class="${cls}"` : ""}>\n<tr>${th}</tr>\n${trs.join("\n")}\n</table>`;
}

function settingText(v: SettingValue): string {
  if (v === null) return "none";
  if (typeof v === "number") return round(v);
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    return v.map((x) => (typeof x === "number" ? round(x) : String(x))).join(", ");
  }
  const u = v as { value: number; unit: string };
  return `${round(u.value)} ${u.unit}`;
}

/** One figure of the summary: a label, the value in large type, a note. */
function card(key: string, label: string, value: string, note = "", cls = ""): string {
  return `<div class="card${cls ? ` ${cls}` : ""}" data-key="${key}">` +
    `<div class="label">${escapeHtml(label)}</div>` +
    `<div class="value">${escapeHtml(value)}</div>` +
    (note ? `<div class="note">${escapeHtml(note)}</div>` : "") + "</div>";
}

function summarySection(
  records: readonly ReportRecord[],
  s: ReportSummary,
  q: { name: string; lowerIsBetter: boolean },
): string {
  const last = records.at(-1);
  const steps = s.steps ?? last?.step ?? 0;
  const seconds = s.seconds ?? last?.seconds ?? 0;
  const qs = records.filter((r) => typeof r.quality === "number" && Number.isFinite(r.quality));
  const better = (a: number, b: number) => (q.lowerIsBetter ? a < b : a > b);
  const best = qs.reduce<ReportRecord | undefined>(
    (a, b) => (a === undefined || better(b.quality!, a.quality!) ? b : a),
    undefined,
  );
  const cards: string[] = [];
  const direction = q.lowerIsBetter ? "lower is better" : "higher is better";
  if (qs.length) {
    const final = qs.at(-1)!, first = qs[0];
    const notes = [direction];
    if (first.quality !== final.quality) notes.push(`start ${round(first.quality!)}`);
    if (best && better(best.quality!, final.quality!)) {
      notes.push(`best ${round(best.quality!)} at step ${best.step}`);
    }
    cards.push(
      card("quality", `final ${q.name}`, round(final.quality!), notes.join(" · ")),
    );
  } else {
    cards.push(card("quality", q.name, "–", "not evaluated"));
  }
  cards.push(
    card("steps", "steps", round(steps), s.workers ? `${s.workers} workers` : ""),
    card(
      "time",
      "wall time",
      formatSeconds(seconds),
      s.stepMs !== undefined ? `${round(s.stepMs)} ms per step` : "",
    ),
  );
  if (s.bytesSent !== undefined) {
    cards.push(card("bytes", "bytes sent", formatBytes(s.bytesSent), "payload, all workers"));
  }
  if (s.bitsPerCoord !== undefined) {
    const note = s.collective ? `collective ${s.collective} · float32: 32` : "float32: 32";
    cards.push(card("bits", "bits per coordinate", round(s.bitsPerCoord), note));
  }
  if (s.uncompressed) {
    cards.push(card("float32", "against float32", "float32", "messages not compressed"));
  } else if (s.float32Bytes !== undefined && s.bytesSent) {
    const notes = [`float32 would send ${formatBytes(s.float32Bytes)}`];
    if (s.speedupVsFloat32 !== undefined) notes.push(`${s.speedupVsFloat32.toFixed(2)}× faster`);
    cards.push(
      card(
        "float32",
        "bytes saved against float32",
        `${(s.float32Bytes / s.bytesSent).toFixed(1)}× fewer`,
        notes.join(" · "),
      ),
    );
  } else if (s.speedupVsFloat32 !== undefined) {
    cards.push(card("float32", "speedup against float32", `${s.speedupVsFloat32.toFixed(2)}×`));
  }
  if (s.target) {
    cards.push(
      card(
        "target",
        `time to ${q.name} ${q.lowerIsBetter ? "≤" : "≥"} ${round(s.target.value)}`,
        s.target.seconds === null ? "not reached" : formatSeconds(s.target.seconds),
      ),
    );
  }
  if (s.replicasAgree !== undefined) {
    cards.push(
      card(
        "replicas",
        "replicas agree",
        s.replicasAgree ? "yes" : "NO",
        s.checksumEvery ? `checksums compared every ${s.checksumEvery} steps` : "checksums",
        s.replicasAgree ? "ok" : "bad",
      ),
    );
  }
  const early = s.endedEarly === undefined
    ? ""
    : `<p class="early"><b>The run ended before its last step</b> (after step ${round(steps)}): ${
      escapeHtml(s.endedEarly)
    }. The figures cover the steps it ran.</p>\n`;
  return `${early}<div class="cards">\n${cards.join("\n")}\n</div>`;
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
  const names = TIMING_PARTS.map((p) => p.replace(/_ms$/, ""));
  const rows = [
    ["mean ms", ...means.map(fmt), fmt(total)],
    ["share", ...means.map((m) => (total > 0 ? `${(100 * m / total).toFixed(1)}%` : "–")), "100%"],
  ];
  return stackedBars(
    bars,
    TIMING_PARTS.map((p) => p.replace(/_ms$/, "")),
    "ms per step",
    "step (each bar: mean since the previous one)",
  ) + "\n" +
    `<div id="timings-table">${table(["per step", ...names, "total"], rows, "num")}</div>`;
}

function levelsSection(levels: LevelTable | null | undefined): string {
  if (!levels || Object.keys(levels.levels).length === 0) {
    return "<p>none (no layer-wise quantizer)</p>";
  }
  const W = 520, H = 44, X0 = 14, X1 = W - 14;
  const at = (l: number) => (X0 + l * (X1 - X0)).toFixed(1);
  const parts = [
    `<p class="caption">Level table version ${levels.version}: the levels of each layer type ` +
    `on [0, 1] (a coordinate is scaled by its bucket's norm and rounded to a neighbouring level).</p>`,
  ];
  for (const [type, ls] of Object.entries(levels.levels)) {
    const ticks = ls.map((l) =>
      `<line class="level" data-value="${l}" x1="${at(l)}" y1="6" x2="${at(l)}" y2="24" ` +
      `stroke="#1f77b4" stroke-width="2"/>`
    );
    const axis = [0, 0.25, 0.5, 0.75, 1].map((t) =>
      `<text x="${at(t)}" y="38" font-size="11" text-anchor="middle">${t}</text>`
    );
    parts.push(
      `<div class="level-type" data-type="${escapeHtml(type)}">`,
      `<h3>${escapeHtml(type)} (${ls.length} levels)</h3>`,
      `<svg class="levels" xmlns="http://www.w3.org/2000/svg" width="100%" ` +
        `viewBox="0 0 ${W} ${H}" font-family="sans-serif">` +
        `<line x1="${X0}" y1="15" x2="${X1}" y2="15" stroke="#999"/>${ticks.join("")}${
          axis.join("")
        }</svg>`,
      `<p class="values">${ls.map((l) => fmt(l)).join(", ")}</p>`,
      "</div>",
    );
  }
  return parts.join("\n");
}

/** A chart with its caption. */
function figure(chart: string, caption: string): string {
  return `${chart}\n<p class="caption">${escapeHtml(caption)}</p>`;
}

const STYLE = `
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
  max-width:1160px;margin:0 auto;padding:24px 28px 48px;color:#1d1d1f;background:#fff;line-height:1.45}
h1{font-size:1.6em;margin:0 0 2px}
.subtitle{color:#666;margin:0 0 8px}
h2{font-size:1.2em;margin:0 0 10px;padding-bottom:4px;border-bottom:1px solid #e3e3e3}
h3{margin:0.6em 0 0.2em;font-size:1em}
section{margin:26px 0}
.early{border:1px solid #d99;background:#fdf1f1;border-radius:8px;padding:8px 12px;margin:0 0 10px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.card{border:1px solid #dcdcdc;border-radius:8px;padding:8px 12px;background:#fafafa}
.card .label{font-size:0.85em;color:#555}
.card .value{font-size:1.5em;font-weight:600;margin:1px 0;font-variant-numeric:tabular-nums;white-space:nowrap}
.card .note{font-size:0.8em;color:#666}
.card.ok .value{color:#217a3c}.card.bad .value{color:#b3261e}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:0.93em;line-height:1.3}
td,th{border:1px solid #ddd;padding:3px 9px;text-align:left}
th{background:#f3f3f3}
table.num td+td{text-align:right}
table.num td,table.num th{white-space:nowrap}
.settings{columns:2 420px;column-gap:28px}
.settings table{width:100%}
.settings td:first-child{color:#444;white-space:nowrap;width:40%}
.curves{display:grid;grid-template-columns:repeat(auto-fit,minmax(500px,1fr));gap:8px 28px}
.curves section{margin:10px 0;min-width:0}
svg.chart{display:block;width:100%;height:auto}
.caption{font-size:0.88em;color:#555;margin:4px 0 0}
#timings-table{margin-top:8px;overflow-x:auto}
#timings-table table{font-size:0.85em}
#samples figure{margin:0}
#samples img{image-rendering:pixelated;border:1px solid #ddd;max-width:100%;height:auto}
figcaption{font-size:0.95em;color:#333;margin-top:6px}
.level-type svg{display:block;max-width:520px}
.values{font-family:monospace;font-size:0.85em;margin:0;color:#444}
`.trim();

/**
 * Renders the report. Pure: the same input gives the same string.
 *
 * @param input Records, settings, summary, level tables and the optional sample image.
 * @returns A complete HTML document.
 *
 * @example A two-step run
 * ```ts
 * import { renderReport } from "./mod.ts";
 * const t = { compute_ms: 10, quantize_ms: 1, communicate_ms: 2, optimizer_ms: 0.5 };
 * const html = renderReport({
 *   settings: { dataset: "gaussians8", workers: 2, timeout: { value: 60000, unit: "ms" } },
 *   summary: { bytesSent: 1e6, bitsPerCoord: 4.05, float32Bytes: 7.9e6, replicasAgree: true },
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
  const { title = "qoda-ring run", settings, records, levels } = input;
  const q = input.quality ?? { name: "quality", lowerIsBetter: false };
  const settingRows = Object.entries(settings)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [k, settingText(v as SettingValue)]);
  const half = Math.ceil(settingRows.length / 2);
  const settingsHtml = settingRows.length === 0
    ? "<p>none recorded</p>"
    : `<div class="settings">${table(["setting", "value"], settingRows.slice(0, half))}` +
      (settingRows.length > half ? table(["setting", "value"], settingRows.slice(half)) : "") +
      "</div>";
  const types = [...new Set(records.flatMap((r) => Object.keys(r.eps ?? {})))].sort();
  const eps = types.map((t) => series(records, t, (r) => r.eps?.[t]));
  const direction = q.lowerIsBetter ? "lower is better" : "higher is better";
  const curves = [
    section(
      "quality",
      `Quality: ${q.name}`,
      figure(
        lineChart([series(records, q.name, (r) => r.quality)], { yLabel: q.name }),
        `${q.description ? `${q.description} ` : ""}At each evaluation; ${direction}.`,
      ),
    ),
    section(
      "losses",
      "Losses",
      figure(
        lineChart([
          series(records, "loss_g", (r) => r.loss_g),
          series(records, "loss_d", (r) => r.loss_d),
        ], { yLabel: "loss" }),
        "Generator and critic losses of rank 0's last batch before each evaluation.",
      ),
    ),
    section(
      "timings",
      "Step time",
      timingsSection(records) +
        `\n<p class="caption">Milliseconds per step by phase, means over each evaluation ` +
        `window (means over the workers).</p>`,
    ),
    section(
      "eps",
      "Quantization error ε_Q per layer type",
      types.length
        ? figure(
          lineChart(eps, { yLabel: "ε_Q", logY: true }),
          "Rank 0's measured ε_Q = Σ‖Q(v) − v‖² / Σ‖v‖² of each layer type over each evaluation window.",
        )
        : "<p>no ε_Q recorded</p>",
    ),
    section(
      "bits",
      "Bits per coordinate",
      figure(
        lineChart([series(records, "bits_per_coord", (r) => r.bits_per_coord)], {
          yLabel: "bits per coordinate",
        }),
        "Payload bits one worker sends per coordinate of its message (float32: 32).",
      ),
    ),
  ];
  if (input.samplesPng) {
    const size = pngSize(input.samplesPng);
    // Small images (a 242-pixel grid of digits) are drawn at twice their size, pixels kept sharp.
    const scale = size ? Math.max(1, Math.min(3, Math.floor(520 / size.width))) : 1;
    const dims = size ? ` width="${size.width * scale}" height="${size.height * scale}"` : "";
    const last = records.at(-1);
    const lastQ = records.filter((r) => typeof r.quality === "number").at(-1);
    const what = input.samplesCaption ?? "Generator samples";
    const at = [
      last ? `at step ${round(last.step)}` : "",
      lastQ ? `${q.name} ${round(lastQ.quality!)} (${direction})` : "",
    ].filter(Boolean).join(", ");
    curves.push(section(
      "samples",
      "Samples",
      `<figure>\n<img alt="generated samples"${dims} ` +
        `src="data:image/png;base64,${base64(input.samplesPng)}"/>\n` +
        `<figcaption>${escapeHtml(at ? `${what} ${at}.` : `${what}.`)}</figcaption>\n</figure>`,
    ));
  }
  const sections = [
    section("summary", "Summary", summarySection(records, input.summary ?? {}, q)),
    section("settings", "Settings", settingsHtml),
    // The curves, then the samples: two columns on a wide page, one on a narrow one.
    `<div class="curves">\n${curves.join("\n")}\n</div>`,
    section("levels", "Level tables", levelsSection(levels)),
  ];
  return [
    "<!DOCTYPE html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8"/>',
    '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
    `<title>${escapeHtml(title)}</title>`,
    `<style>\n${STYLE}\n</style>`,
    "</head>",
    "<body>",
    `<h1>${escapeHtml(title)}</h1>`,
    ...(input.subtitle ? [`<p class="subtitle">${escapeHtml(input.subtitle)}</p>`] : []),
    ...sections,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

/** A number rounded for reading: at most 4 significant digits, thousands separated. */
export function readable(v: number): string {
  return round(v);
}
