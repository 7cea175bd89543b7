/**
 * The learning-curve chart: an SVG line chart with a title, axis labels, ticks, a grid and a
 * legend, rendered to PNG by @resvg/resvg-js (text included, with the system's fonts). The SVG is
 * the source of truth; the PNG is its rendering.
 */
export interface ChartLabels {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  /** The x value of the first point (default 0; the learning curve's iterations start at 1). */
  xFrom?: number;
}

export interface Series {
  name: string;
  values: number[];
  color: string;
  width: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Round tick positions (1, 2 or 5 × 10^k apart) from at or below `lo` to at or above `hi`. */
export function niceTicks(lo: number, hi: number, target = 6): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const ticks: number[] = [];
  const end = Math.ceil(hi / step - 1e-9) * step;
  for (let v = Math.floor(lo / step + 1e-9) * step; v <= end + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 10_000) return `${Number((v / 1000).toPrecision(3))}k`;
  return String(Number(v.toPrecision(4)));
}

/**
 * The moving average's window for a run of `n` iterations: a twentieth of the run, at least 5
 * (a window of 2 over 100 iterations smoothed nothing). The legend names this same number.
 */
export function movingAverageWindow(n: number): number {
  return n < 5 ? Math.max(1, n) : Math.max(5, Math.round(n / 20));
}

/** Trailing moving average over `win` values (default: movingAverageWindow of the run). */
export function movingAverage(values: number[], win = movingAverageWindow(values.length)): number[] {
  let sum = 0;
  return values.map((v, i) => {
    sum += v;
    if (i >= win) sum -= values[i - win] as number;
    return sum / Math.min(i + 1, win);
  });
}

export function lineChartSvg(series: Series[], labels: ChartLabels, width = 900, height = 500): string {
  const m = { l: 84, r: 24, t: labels.subtitle ? 74 : 56, b: 64 };
  const w = width - m.l - m.r;
  const h = height - m.t - m.b;
  const all = series.flatMap((s) => s.values);
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const yTicks = niceTicks(Math.min(0, ...all), Math.max(...all, Math.min(0, ...all) + 1e-9));
  const lo = yTicks[0] as number;
  const hi = yTicks[yTicks.length - 1] as number;
  // Point i is at x = xFrom + i (iterations are numbered from 1, as progress and the CSV number them).
  const x0 = labels.xFrom ?? 0;
  const x1 = x0 + Math.max(1, n - 1);
  const xTicks = niceTicks(x0, x1).filter((t) => (t >= x0 && t <= x1) || n === 1);
  if (xTicks[0] !== x0 && (xTicks[0] ?? x1) - x0 > (x1 - x0) / 20) xTicks.unshift(x0);
  const X = (i: number) => m.l + (n > 1 ? (i / (n - 1)) * w : 0);
  const XT = (t: number) => X(t - x0);
  const Y = (v: number) => m.t + h - ((v - lo) / (hi - lo || 1)) * h;
  const font = 'font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif"';
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="${width / 2}" y="28" text-anchor="middle" font-size="20" font-weight="bold" ${font} fill="#111">${esc(labels.title)}</text>`);
  if (labels.subtitle) out.push(`<text x="${width / 2}" y="52" text-anchor="middle" font-size="13" ${font} fill="#555">${esc(labels.subtitle)}</text>`);
  // Grid and ticks.
  for (const t of yTicks) {
    const y = Y(t).toFixed(1);
    out.push(`<line x1="${m.l}" y1="${y}" x2="${m.l + w}" y2="${y}" stroke="${t === 0 ? '#999' : '#e3e3e3'}" stroke-width="1"/>`);
    out.push(`<line x1="${m.l - 5}" y1="${y}" x2="${m.l}" y2="${y}" stroke="#000"/>`);
    out.push(`<text class="tick" x="${m.l - 8}" y="${y}" dy="4" text-anchor="end" font-size="12" ${font} fill="#333">${formatTick(t)}</text>`);
  }
  for (const t of xTicks) {
    const x = XT(t).toFixed(1);
    out.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${m.t + h}" stroke="#f0f0f0" stroke-width="1"/>`);
    out.push(`<line x1="${x}" y1="${m.t + h}" x2="${x}" y2="${m.t + h + 5}" stroke="#000"/>`);
    out.push(`<text class="tick" x="${x}" y="${m.t + h + 20}" text-anchor="middle" font-size="12" ${font} fill="#333">${formatTick(t)}</text>`);
  }
  // Axes and their labels.
  out.push(`<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${m.t + h}" stroke="#000" stroke-width="1.5"/>`);
  out.push(`<line x1="${m.l}" y1="${m.t + h}" x2="${m.l + w}" y2="${m.t + h}" stroke="#000" stroke-width="1.5"/>`);
  out.push(`<text class="axis-label" x="${m.l + w / 2}" y="${height - 16}" text-anchor="middle" font-size="14" ${font} fill="#111">${esc(labels.xLabel)}</text>`);
  out.push(`<text class="axis-label" x="20" y="${m.t + h / 2}" text-anchor="middle" font-size="14" ${font} fill="#111" transform="rotate(-90 20 ${m.t + h / 2})">${esc(labels.yLabel)}</text>`);
  // Series.
  for (const s of series) {
    const pts = s.values.map((v, i) => `${X(i).toFixed(1)},${Y(v).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="${s.width}" stroke-linejoin="round" points="${pts}"/>`);
  }
  // Legend, top right inside the plot.
  const lw = 16 + Math.max(...series.map((s) => s.name.length)) * 7.2 + 40;
  const lx = m.l + w - lw - 8;
  const ly = m.t + 8;
  out.push(`<g class="legend"><rect x="${lx}" y="${ly}" width="${lw}" height="${series.length * 20 + 10}" fill="#ffffff" fill-opacity="0.9" stroke="#bbb"/>`);
  series.forEach((s, i) => {
    const y = ly + 18 + i * 20;
    out.push(`<line x1="${lx + 10}" y1="${y - 4}" x2="${lx + 36}" y2="${y - 4}" stroke="${s.color}" stroke-width="${Math.max(2, s.width)}"/>`);
    out.push(`<text x="${lx + 44}" y="${y}" font-size="12" ${font} fill="#111">${esc(s.name)}</text>`);
  });
  out.push('</g></svg>');
  return `${out.join('\n')}\n`;
}

/** The learning curve: raw mean reward per iteration and its moving average. */
export function curveChartSvg(curve: number[], subtitle?: string): string {
  const win = movingAverageWindow(curve.length);
  return lineChartSvg(
    [
      { name: 'mean reward', values: curve, color: '#96b9eb', width: 1 },
      { name: `moving average (${win} iterations)`, values: movingAverage(curve, win), color: '#b41e1e', width: 2.5 },
    ],
    { title: 'Multi-agent Q-learning: learning curve', ...(subtitle ? { subtitle } : {}), xLabel: 'iteration', yLabel: 'mean reward per agent', xFrom: 1 },
  );
}

/** Render an SVG to PNG (resvg, loaded on first use: a native module only --png needs). */
export async function svgToPng(svg: string): Promise<Buffer> {
  const { Resvg } = await import('@resvg/resvg-js');
  return Buffer.from(new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: '#ffffff' }).render().asPng());
}
