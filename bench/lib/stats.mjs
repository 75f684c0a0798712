// Summary statistics and number formatting for the benchmark report.
// No timing assertions anywhere: these only describe what was measured.

/** Sorted copy of finite numbers. */
function sorted(values) {
  return values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
}

/** Median (mean of the two middle values for an even count). */
export function median(values) {
  const s = sorted(values);
  if (s.length === 0) return undefined;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Nearest-rank percentile: the smallest sample with at least p% of the
 * samples at or below it. With fewer than 100 samples p99 is the maximum.
 */
export function percentile(values, p) {
  const s = sorted(values);
  if (s.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length, Math.max(1, rank)) - 1];
}

/** { n, median, p99, min, max } of a list of samples. */
export function summarize(values) {
  const s = sorted(values);
  return {
    n: s.length,
    median: median(s),
    p99: percentile(s, 99),
    min: s[0],
    max: s[s.length - 1],
  };
}

/** a / b, or undefined when either is missing or b is 0. */
export function ratio(a, b) {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return undefined;
  return a / b;
}

/** A duration in nanoseconds, in the unit that reads best. */
export function fmtNs(ns) {
  if (!Number.isFinite(ns)) return "n/a";
  if (ns < 1e6) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(2)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

/** A ratio such as 1.23×. */
export function fmtRatio(r) {
  if (!Number.isFinite(r)) return "n/a";
  if (r >= 100) return `${r.toFixed(0)}×`;
  if (r >= 10) return `${r.toFixed(1)}×`;
  if (r < 0.1) return `${r.toFixed(3)}×`;
  return `${r.toFixed(2)}×`;
}

/** KiB as MiB with one decimal (KiB below 1 MiB). */
export function fmtKiB(kib) {
  if (!Number.isFinite(kib)) return "n/a";
  if (kib < 1024) return `${Math.round(kib)} KiB`;
  return `${(kib / 1024).toFixed(1)} MiB`;
}

/** An integer with thousands separators. */
export function fmtInt(n) {
  if (!Number.isFinite(n)) return "n/a";
  return Math.round(n).toLocaleString("en-US");
}
