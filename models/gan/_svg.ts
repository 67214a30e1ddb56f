/**
 * Tiny inline-SVG charts for the run report: line charts over steps and
 * stacked bars. Pure string building; every label is HTML-escaped.
 *
 * Layout: the plot area is a `<rect class="plot">`; every text (tick labels,
 * axis titles, the legend) lies outside it: tick labels in the left and
 * bottom margins (the left margin is as wide as the longest y label needs),
 * the legend in a row (or rows) above the plot area. Charts scale with their
 * container (`width="100%"`, a `viewBox`).
 *
 * @module
 */

/** Escapes `& < > " '` for HTML text and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

/** A number for display: 4 significant digits, integers as is. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e7) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

/**
 * A tick label: the shortest form of a round number (`0.3`, `1500`, `1e-4`,
 * `2.5e6`), without the rounding noise of the tick arithmetic.
 */
export function tickLabel(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e6) return String(Number(v.toPrecision(6)));
  const [m, e] = v.toExponential(5).split("e");
  return `${Number(m)}e${Number(e)}`;
}

/** A number rounded for reading: at most 4 significant digits, thousands separated. */
export function round(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e15) return v.toLocaleString("en-US");
  if (a !== 0 && (a < 1e-3 || a >= 1e9)) return v.toExponential(2).replace("e+", "e");
  const r = Number(v.toPrecision(4));
  return a >= 1000 ? r.toLocaleString("en-US") : String(r);
}

/** Bytes with a decimal unit (B, kB, MB, GB). */
export function formatBytes(n: number): string {
  if (n < 1e3) return `${round(n)} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/** Seconds as `12.6 s`, `3 min 17 s` or `1 h 02 min`. */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "–";
  if (s < 60) return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.round(s - 60 * m)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** One line of a chart. */
export interface Series {
  /** Legend name (also the `data-name` of its polyline). */
  name: string;
  /** Points (x, y); non-finite y values are left out. */
  points: readonly (readonly [number, number])[];
}

/** The colour of series `i`. */
export function color(i: number): string {
  const palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];
  return palette[i % palette.length];
}

/** Default size of a chart (viewBox units; drawn at about this many CSS pixels). */
const W = 560, H = 300;
/** Font sizes of tick labels, axis titles and the legend. */
const TICK_FONT = 12, TITLE_FONT = 13, LEGEND_FONT = 13;
/** Estimated width of one character per pixel of font size (generous, for wide fonts). */
const CHAR_W = 0.62;
/** Margins that do not depend on the labels. */
const R = 24, B = 54;

/** Round ticks covering [lo, hi]: about `n` of them, steps of 1, 2 or 5 × 10^k. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  // A range within rounding of its values (a near-constant series) has one tick.
  if (!(hi - lo > 1e-9 * Math.max(Math.abs(lo), Math.abs(hi)))) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

/**
 * Ticks of a log axis over [10^lo, 10^hi] (bounds given as log10): the
 * powers of ten inside, or 1, 2, 5 × 10^k when fewer than three powers fit.
 * Returned as log10 values.
 */
function logTicks(lo: number, hi: number): number[] {
  const decades: number[] = [];
  for (let k = Math.ceil(lo - 1e-9); k <= hi + 1e-9; k++) decades.push(k);
  if (decades.length >= 3) {
    const every = Math.ceil(decades.length / 6);
    return decades.filter((k) => k % every === 0);
  }
  const out: number[] = [];
  for (let k = Math.floor(lo) - 1; k <= Math.ceil(hi); k++) {
    for (const m of [1, 2, 5]) {
      const t = Math.log10(m) + k;
      if (t >= lo - 1e-9 && t <= hi + 1e-9) out.push(t);
    }
  }
  return out.length ? out : [lo];
}

/** Estimated width of `text` at `size` px. */
function textWidth(text: string, size: number): number {
  return text.length * size * CHAR_W;
}

/**
 * Legend entries (a short line in the series' colour, then the name) in
 * rows above the plot area, from `x0`, wrapping before `x1`. Returns the
 * markup and the height the rows take.
 */
function legend(
  names: readonly string[],
  x0: number,
  x1: number,
  top: number,
): { svg: string; height: number } {
  const row = LEGEND_FONT + 8;
  const parts: string[] = [];
  let x = x0, y = top + row / 2;
  names.forEach((name, i) => {
    const w = 22 + textWidth(name, LEGEND_FONT) + 18;
    if (x > x0 && x + w > x1) {
      x = x0;
      y += row;
    }
    parts.push(
      `<g class="legend-item" data-name="${escapeHtml(name)}">` +
        `<line x1="${x.toFixed(1)}" y1="${y.toFixed(1)}" x2="${(x + 16).toFixed(1)}" ` +
        `y2="${y.toFixed(1)}" stroke="${color(i)}" stroke-width="3"/>` +
        `<text class="legend" x="${(x + 22).toFixed(1)}" y="${y.toFixed(1)}" ` +
        `font-size="${LEGEND_FONT}" dominant-baseline="central">${escapeHtml(name)}</text></g>`,
    );
    x += w;
  });
  return { svg: parts.join("\n"), height: names.length ? y + row / 2 - top : 0 };
}

/** Options of {@linkcode lineChart}. */
export interface LineChartOptions {
  /** Title of the x axis. @default {"step"} */
  xLabel?: string;
  /** Title of the y axis (with its unit). */
  yLabel?: string;
  /** Logarithmic y axis. */
  logY?: boolean;
  /** Mark every point with a dot (for a few evaluations). @default {true when every series has at most 40 points} */
  markers?: boolean;
  /** Size in viewBox units. @default {560 × 300} */
  width?: number;
  /** @see width */
  height?: number;
}

function svgOpen(w: number, h: number, attrs = ""): string {
  return `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="100%" ` +
    `viewBox="0 0 ${w} ${h}" preserveAspectRatio="xMidYMid meet" ` +
    `font-family="sans-serif"${attrs}>`;
}

/** The y-axis title, rotated, at the left edge. */
function yTitle(label: string, midY: number): string {
  if (!label) return "";
  const x = TITLE_FONT;
  return `<text class="axis-title" x="${x}" y="${midY.toFixed(1)}" font-size="${TITLE_FONT}" ` +
    `text-anchor="middle" transform="rotate(-90 ${x} ${midY.toFixed(1)})">` +
    `${escapeHtml(label)}</text>`;
}

/** Left margin that fits the y title and the widest y tick label. */
function leftMargin(labels: readonly string[], hasTitle: boolean): number {
  const widest = Math.max(0, ...labels.map((l) => textWidth(l, TICK_FONT)));
  return Math.ceil((hasTitle ? TITLE_FONT * 2 + 4 : 8) + widest + 10);
}

/**
 * A line chart: one `<polyline class="series" data-name=… data-n=…>` per
 * series with at least one finite point, axes with ticks and titles, and a
 * legend above the plot area (`<rect class="plot">`).
 *
 * @param series The lines.
 * @param options Axis titles, log scale for y, markers, size.
 * @returns SVG markup.
 */
export function lineChart(series: readonly Series[], options: LineChartOptions = {}): string {
  const { xLabel = "step", yLabel = "", logY = false, width = W, height = H } = options;
  const ty = (y: number) => (logY ? Math.log10(y) : y);
  const clean = series.map((s) => ({
    name: s.name,
    points: s.points.filter(([x, y]) =>
      Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0)
    ),
  }));
  const all = clean.flatMap((s) => s.points);
  if (all.length === 0) {
    return svgOpen(width, 40) +
      `<text x="8" y="24" font-size="${TICK_FONT}">no data</text></svg>`;
  }
  const markers = options.markers ?? clean.every((s) => s.points.length <= 40);
  const x0 = Math.min(...all.map((p) => p[0]));
  let x1 = Math.max(...all.map((p) => p[0]));
  let y0 = Math.min(...all.map((p) => ty(p[1]))), y1 = Math.max(...all.map((p) => ty(p[1])));
  if (x1 === x0) x1 = x0 + 1;
  const nonNegative = !logY && y0 >= 0;
  if (!(y1 - y0 > 1e-9 * Math.max(Math.abs(y0), Math.abs(y1)))) {
    // Constant, or constant up to rounding (e.g. bits per coordinate): pad the range.
    const d = logY ? 0.5 : Math.abs(y0) * 0.1 || 1;
    y0 -= d;
    y1 += d;
  } else {
    // A little room above and below, so that lines do not run along the frame.
    const pad = 0.06 * (y1 - y0);
    y0 -= pad;
    y1 += pad;
  }
  if (nonNegative && y0 < 0) y0 = 0; // counts, distances: the axis stays at or above 0
  const yTicks = (logY ? logTicks(y0, y1) : niceTicks(y0, y1)).filter((t) =>
    t >= y0 - 1e-9 * Math.abs(y0) && t <= y1 + 1e-9 * Math.abs(y1)
  );
  const yText = yTicks.map((t) => tickLabel(logY ? 10 ** t : t));
  const xTicks = niceTicks(x0, x1, Math.max(2, Math.floor(width / 90)));
  const L = leftMargin(yText, yLabel !== "");
  const named = clean.filter((s) => s.points.length > 0).map((s) => s.name);
  // One line needs no legend: the y axis title names it.
  const lg = legend(named.length > 1 ? named : [], L, width - R, 6);
  const T = 6 + lg.height + 8;
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (width - L - R);
  const py = (y: number) => T + (1 - (ty(y) - y0) / (y1 - y0)) * (height - T - B);
  const bottom = height - B;
  const parts: string[] = [
    svgOpen(width, height, ` data-x-min="${x0}" data-x-max="${x1}"`),
    `<rect class="plot" x="${L}" y="${T}" width="${width - L - R}" height="${
      bottom - T
    }" fill="none" stroke="#999"/>`,
  ];
  for (const t of xTicks) {
    const x = px(t).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#999"/>`,
      `<text class="tick" x="${x}" y="${bottom + 8}" font-size="${TICK_FONT}" ` +
        `text-anchor="middle" dominant-baseline="hanging">${tickLabel(t)}</text>`,
    );
  }
  yTicks.forEach((t, i) => {
    const y = (T + (1 - (t - y0) / (y1 - y0)) * (bottom - T)).toFixed(1);
    parts.push(
      `<line x1="${L - 5}" y1="${y}" x2="${width - R}" y2="${y}" stroke="#e4e4e4"/>`,
      `<text class="tick" x="${L - 8}" y="${y}" font-size="${TICK_FONT}" text-anchor="end" ` +
        `dominant-baseline="central">${yText[i]}</text>`,
    );
  });
  parts.push(
    `<text class="axis-title" x="${((L + width - R) / 2).toFixed(1)}" y="${height - 8}" ` +
      `font-size="${TITLE_FONT}" text-anchor="middle">${escapeHtml(xLabel)}</text>`,
    yTitle(yLabel ? `${yLabel}${logY ? " (log scale)" : ""}` : "", (T + bottom) / 2),
    lg.svg,
  );
  clean.forEach((s, i) => {
    if (s.points.length === 0) return;
    const pts = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    parts.push(
      `<polyline class="series" data-name="${escapeHtml(s.name)}" data-n="${s.points.length}" ` +
        `fill="none" stroke="${
          color(i)
        }" stroke-width="2" stroke-linejoin="round" points="${pts}"/>`,
    );
    if (markers || s.points.length === 1) {
      for (const [x, y] of s.points) {
        parts.push(
          `<circle class="marker" cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" ` +
            `fill="${color(i)}"/>`,
        );
      }
    }
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/**
 * Stacked vertical bars: one `<g class="bar" data-label=…>` per bar, one
 * `<rect data-part=… data-value=…>` per part, the legend above the plot
 * area.
 *
 * @param bars Label and the value of each part.
 * @param parts Part names, bottom first.
 * @param unit Title of the y axis (with its unit).
 * @param xLabel Title of the x axis.
 * @returns SVG markup.
 */
export function stackedBars(
  bars: readonly { label: string; values: readonly number[] }[],
  parts: readonly string[],
  unit: string,
  xLabel = "step",
): string {
  const width = W, height = H;
  const top = Math.max(1e-9, ...bars.map((b) => b.values.reduce((s, v) => s + Math.max(0, v), 0)));
  const ticks = niceTicks(0, top * 1.05);
  const yMax = Math.max(top * 1.05, ticks.at(-1) ?? 0);
  const yText = ticks.map(tickLabel);
  const L = leftMargin(yText, unit !== "");
  const lg = legend(parts, L, width - R, 6);
  const T = 6 + lg.height + 8;
  const bottom = height - B;
  const n = Math.max(1, bars.length);
  const slot = (width - L - R) / n, bw = Math.max(2, slot * 0.7);
  const out: string[] = [
    svgOpen(width, height),
    `<rect class="plot" x="${L}" y="${T}" width="${width - L - R}" height="${
      bottom - T
    }" fill="none" stroke="#999"/>`,
  ];
  ticks.forEach((t, i) => {
    const y = (T + (1 - t / yMax) * (bottom - T)).toFixed(1);
    out.push(
      `<line x1="${L - 5}" y1="${y}" x2="${width - R}" y2="${y}" stroke="#e4e4e4"/>`,
      `<text class="tick" x="${L - 8}" y="${y}" font-size="${TICK_FONT}" text-anchor="end" ` +
        `dominant-baseline="central">${yText[i]}</text>`,
    );
  });
  out.push(
    yTitle(unit, (T + bottom) / 2),
    `<text class="axis-title" x="${((L + width - R) / 2).toFixed(1)}" y="${height - 8}" ` +
      `font-size="${TITLE_FONT}" text-anchor="middle">${escapeHtml(xLabel)}</text>`,
    lg.svg,
  );
  // Labels that fit side by side: every k-th bar, k from the widest label.
  const widest = Math.max(1, ...bars.map((b) => textWidth(b.label, TICK_FONT)));
  const every = Math.max(1, Math.ceil((widest + 8) / slot));
  bars.forEach((b, i) => {
    const x = L + i * slot + (slot - bw) / 2;
    let y = bottom;
    out.push(`<g class="bar" data-label="${escapeHtml(b.label)}">`);
    b.values.forEach((v, k) => {
      const h = (Math.max(0, v) / yMax) * (bottom - T);
      y -= h;
      out.push(
        `<rect data-part="${escapeHtml(parts[k])}" data-value="${fmt(v)}" x="${x.toFixed(1)}" ` +
          `y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${
            color(k)
          }"><title>${escapeHtml(`${parts[k]}: ${fmt(v)}`)}</title></rect>`,
      );
    });
    out.push("</g>");
    if ((n - 1 - i) % every === 0) {
      out.push(
        `<text class="tick" x="${(x + bw / 2).toFixed(1)}" y="${bottom + 8}" ` +
          `font-size="${TICK_FONT}" text-anchor="middle" dominant-baseline="hanging">` +
          `${escapeHtml(b.label)}</text>`,
      );
    }
  });
  out.push("</svg>");
  return out.join("\n");
}
