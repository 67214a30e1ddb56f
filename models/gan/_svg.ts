/**
 * Tiny inline-SVG charts for the run report: line charts over steps and
 * stacked bars. Pure string building; every label is HTML-escaped.
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

const W = 560, H = 220, L = 56, R = 12, T = 12, B = 34;

function niceTicks(lo: number, hi: number, n = 5): number[] {
  // A range within rounding of its values (a near-constant series) has one tick.
  if (!(hi - lo > 1e-9 * Math.max(Math.abs(lo), Math.abs(hi)))) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

/**
 * A line chart: one `<polyline class="series" data-name=… data-n=…>` per
 * series with at least one finite point, axes with ticks, a legend.
 *
 * @param series The lines.
 * @param options Axis labels, log scale for y.
 * @returns SVG markup.
 */
export function lineChart(
  series: readonly Series[],
  options: { xLabel?: string; yLabel?: string; logY?: boolean } = {},
): string {
  const { xLabel = "step", yLabel = "", logY = false } = options;
  const ty = (y: number) => (logY ? Math.log10(y) : y);
  const clean = series.map((s) => ({
    name: s.name,
    points: s.points.filter(([x, y]) =>
      Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0)
    ),
  }));
  const all = clean.flatMap((s) => s.points);
  if (all.length === 0) {
    return `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${W}" height="40" ` +
      `viewBox="0 0 ${W} 40"><text x="8" y="24" font-size="12">no data</text></svg>`;
  }
  const x0 = Math.min(...all.map((p) => p[0]));
  let x1 = Math.max(...all.map((p) => p[0]));
  let y0 = Math.min(...all.map((p) => ty(p[1]))), y1 = Math.max(...all.map((p) => ty(p[1])));
  if (x1 === x0) x1 = x0 + 1;
  if (!(y1 - y0 > 1e-9 * Math.max(Math.abs(y0), Math.abs(y1)))) {
    // Constant, or constant up to rounding (e.g. bits per coordinate): pad the range.
    const d = Math.abs(y0) * 0.1 || 1;
    y0 -= d;
    y1 += d;
  }
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => T + (1 - (ty(y) - y0) / (y1 - y0)) * (H - T - B);
  const parts: string[] = [
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
    `viewBox="0 0 ${W} ${H}" data-x-min="${x0}" data-x-max="${x1}">`,
    `<rect x="${L}" y="${T}" width="${W - L - R}" height="${
      H - T - B
    }" fill="none" stroke="#999"/>`,
  ];
  for (const t of niceTicks(x0, x1)) {
    const x = px(t).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${H - B}" x2="${x}" y2="${H - B + 4}" stroke="#999"/>`,
      `<text x="${x}" y="${H - B + 15}" font-size="10" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  for (const t of niceTicks(y0, y1)) {
    const y = (T + (1 - (t - y0) / (y1 - y0)) * (H - T - B)).toFixed(1);
    parts.push(
      `<line x1="${L - 4}" y1="${y}" x2="${W - R}" y2="${y}" stroke="#eee"/>`,
      `<text x="${L - 6}" y="${y}" font-size="10" text-anchor="end" dominant-baseline="middle">` +
        `${logY ? fmt(10 ** t) : fmt(t)}</text>`,
    );
  }
  parts.push(
    `<text x="${(L + W - R) / 2}" y="${H - 4}" font-size="11" text-anchor="middle">` +
      `${escapeHtml(xLabel)}</text>`,
    `<text x="12" y="${(T + H - B) / 2}" font-size="11" text-anchor="middle" ` +
      `transform="rotate(-90 12 ${(T + H - B) / 2})">${escapeHtml(yLabel)}${
        logY ? " (log)" : ""
      }</text>`,
  );
  clean.forEach((s, i) => {
    if (s.points.length === 0) return;
    const pts = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    parts.push(
      `<polyline class="series" data-name="${escapeHtml(s.name)}" data-n="${s.points.length}" ` +
        `fill="none" stroke="${color(i)}" stroke-width="1.5" points="${pts}"/>`,
    );
    if (s.points.length === 1) {
      const [x, y] = s.points[0];
      parts.push(
        `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${color(i)}"/>`,
      );
    }
    parts.push(
      `<text x="${L + 8 + 110 * i}" y="${T + 12}" font-size="11" fill="${color(i)}">` +
        `${escapeHtml(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/**
 * Stacked vertical bars: one `<g class="bar" data-label=…>` per bar, one
 * `<rect data-part=… data-value=…>` per part.
 *
 * @param bars Label and the value of each part.
 * @param parts Part names, bottom first.
 * @param unit Unit for the axis label.
 * @returns SVG markup.
 */
export function stackedBars(
  bars: readonly { label: string; values: readonly number[] }[],
  parts: readonly string[],
  unit: string,
): string {
  const top = Math.max(1e-9, ...bars.map((b) => b.values.reduce((s, v) => s + Math.max(0, v), 0)));
  const n = Math.max(1, bars.length);
  const slot = (W - L - R) / n, bw = Math.max(2, slot * 0.7);
  const out: string[] = [
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect x="${L}" y="${T}" width="${W - L - R}" height="${
      H - T - B
    }" fill="none" stroke="#999"/>`,
  ];
  for (const t of niceTicks(0, top)) {
    const y = (T + (1 - t / top) * (H - T - B)).toFixed(1);
    out.push(
      `<line x1="${L - 4}" y1="${y}" x2="${W - R}" y2="${y}" stroke="#eee"/>`,
      `<text x="${L - 6}" y="${y}" font-size="10" text-anchor="end" dominant-baseline="middle">${
        fmt(t)
      }</text>`,
    );
  }
  out.push(
    `<text x="12" y="${(T + H - B) / 2}" font-size="11" text-anchor="middle" ` +
      `transform="rotate(-90 12 ${(T + H - B) / 2})">${escapeHtml(unit)}</text>`,
  );
  bars.forEach((b, i) => {
    const x = L + i * slot + (slot - bw) / 2;
    let y = H - B;
    out.push(`<g class="bar" data-label="${escapeHtml(b.label)}">`);
    b.values.forEach((v, k) => {
      const h = (Math.max(0, v) / top) * (H - T - B);
      y -= h;
      out.push(
        `<rect data-part="${escapeHtml(parts[k])}" data-value="${fmt(v)}" x="${x.toFixed(1)}" ` +
          `y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${
            color(k)
          }"/>`,
      );
    });
    out.push("</g>");
    if (n <= 12 || i % Math.ceil(n / 12) === 0) {
      out.push(
        `<text x="${(x + bw / 2).toFixed(1)}" y="${
          H - B + 15
        }" font-size="10" text-anchor="middle">` +
          `${escapeHtml(b.label)}</text>`,
      );
    }
  });
  parts.forEach((p, k) => {
    out.push(
      `<text x="${L + 8 + 120 * k}" y="${T + 12}" font-size="11" fill="${color(k)}">${
        escapeHtml(p)
      }</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n");
}
