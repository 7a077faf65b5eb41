// The arithmetic of the benchmark, kept pure so it can be unit-tested:
// percentiles by nearest rank, medians and spreads over repeated runs, least
// squares fits, signed loss, the load-bound rule and like-for-like ratios.

export type Row = Record<string, string | number | boolean>;

/** Nearest-rank percentile (the ⌈q·n⌉-th smallest value) of sorted values; NaN when empty. */
export function nearestRank(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p50: nearestRank(sorted, 0.5), p95: nearestRank(sorted, 0.95), p99: nearestRank(sorted, 0.99), max: sorted.at(-1) ?? Number.NaN };
}

/** Median (mean of the middle two for an even count); NaN when empty. */
export function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: number[]): Spread {
  const finite = values.filter((v) => Number.isFinite(v));
  return { median: median(finite), min: finite.length ? Math.min(...finite) : Number.NaN, max: finite.length ? Math.max(...finite) : Number.NaN, n: finite.length };
}

/** "1.23 [1.10–1.40]" (one run: just the value). */
export function formatSpread(s: Spread, digits = 2): string {
  if (!s.n) return 'n/a';
  const f = (v: number) => v.toFixed(digits);
  return s.n === 1 || s.min === s.max ? f(s.median) : `${f(s.median)} [${f(s.min)}–${f(s.max)}]`;
}

/** Least-squares line y = slope·x + intercept; NaN slope with fewer than two distinct x. */
export function linearFit(xs: number[], ys: number[]): { slope: number; intercept: number; n: number } {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return { slope: Number.NaN, intercept: Number.NaN, n };
  const mx = xs.slice(0, n).reduce((a, b) => a + b, 0) / n;
  const my = ys.slice(0, n).reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  if (sxx === 0) return { slope: Number.NaN, intercept: Number.NaN, n };
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx, n };
}

/**
 * Loss as a signed fraction: 1 − received/expected. Not clipped: received and
 * sent count the same packets, so a negative value means the counting is
 * wrong (a packet counted twice, a window edge misread) and must show.
 */
export function signedLoss(expected: number, received: number): number {
  return expected > 0 ? 1 - received / expected : 0;
}

/** Above this share of a core the load generator itself limits what is measured. */
export const LOAD_BOUND_CORE_SHARE = 0.8;

/**
 * A window is load-bound when the load's busiest figure (its main thread, or
 * the whole process over the cores it may use) exceeded LOAD_BOUND_CORE_SHARE
 * of a core, or when the kernel dropped datagrams at the load's sockets.
 */
export function isLoadBound(w: { loadMainThreadCore: number; loadCoreShare: number; loadDrops: number }): boolean {
  return w.loadMainThreadCore > LOAD_BOUND_CORE_SHARE || w.loadCoreShare > LOAD_BOUND_CORE_SHARE || w.loadDrops > 0;
}

/** The loss limit of a stepped scenario: a step passes at or below it. */
export const LOSS_LIMIT_PCT = 1;

/** A measured step that can carry a claim: figures present, loss within the limit and not negative, load not saturated. */
export function usable(row: Row | undefined): row is Row {
  return !!row && row.note === undefined && typeof row.lossPct === 'number' && row.lossPct >= 0 && row.lossPct <= LOSS_LIMIT_PCT && row.loadBound !== true;
}

/**
 * Per repetition, the ratio a/b of `field` at each step both targets measured
 * usably, keyed by the step's size; the caller takes medians over reps.
 */
export function ratiosAtCommonSteps(a: Row[][], b: Row[][], stepKey: string, field: string, ok: (row: Row | undefined) => row is Row = usable): Map<string | number, number[]> {
  const out = new Map<string | number, number[]>();
  for (let rep = 0; rep < Math.min(a.length, b.length); rep++) {
    for (const ra of a[rep]!) {
      const rb = b[rep]!.find((r) => r[stepKey] === ra[stepKey]);
      if (!ok(ra) || !ok(rb)) continue;
      const x = Number(ra[field]) / Number(rb[field]);
      if (!Number.isFinite(x)) continue;
      const step = ra[stepKey] as string | number;
      out.set(step, [...(out.get(step) ?? []), x]);
    }
  }
  return new Map([...out].sort((p, q) => (typeof p[0] === 'number' && typeof q[0] === 'number' ? p[0] - q[0] : 0)));
}

/** Per repetition, the slope of y against x over the usable rows (e.g. SFU CPU µs/s against forwarded packets/s). */
export function slopes(runs: Row[][], x: string, y: string): number[] {
  return runs.map((rows) => {
    const ok = rows.filter(usable);
    return linearFit(ok.map((r) => Number(r[x])), ok.map((r) => Number(r[y]))).slope;
  });
}

/**
 * Merges repeated runs of one target into one row per step: each numeric
 * figure becomes its median, with `<field>Min` and `<field>Max` beside it;
 * `runs` counts the reps that measured the step, `loadBound` is true if any
 * of them was load-bound, and a step that failed in some rep keeps a note.
 */
export function aggregate(runs: Row[][], stepKey: string): Row[] {
  const steps: (string | number)[] = [];
  for (const rows of runs) for (const r of rows) if (r[stepKey] !== undefined && !steps.includes(r[stepKey] as string | number)) steps.push(r[stepKey] as string | number);
  return steps.map((step) => {
    const rows = runs.map((rs) => rs.find((r) => r[stepKey] === step)).filter((r): r is Row => !!r);
    const measured = rows.filter((r) => r.note === undefined);
    const out: Row = { [stepKey]: step, runs: measured.length };
    const fields = [...new Set(measured.flatMap((r) => Object.keys(r)))].filter((f) => f !== stepKey);
    for (const f of fields) {
      const values = measured.map((r) => r[f]);
      if (values.every((v) => typeof v === 'number')) {
        const s = spread(values as number[]);
        out[f] = s.median;
        if (s.min !== s.max) {
          out[`${f}Min`] = s.min;
          out[`${f}Max`] = s.max;
        }
      } else if (values.every((v) => typeof v === 'boolean')) {
        out[f] = values.some(Boolean);
      } else if (values.length) {
        out[f] = values.every((v) => v === values[0]) ? values[0]! : values.map(String).join(' / ');
      }
    }
    const notes = rows.filter((r) => r.note !== undefined).map((r) => String(r.note));
    if (notes.length) out.note = `${notes.length} of ${rows.length} runs: ${notes[0]}`;
    return out;
  });
}
