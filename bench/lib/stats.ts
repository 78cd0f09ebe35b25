/** Small statistics helpers shared by the benchmarks. */

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Latency samples in milliseconds, kept cheaply (a ring of the last `max` samples is enough). */
export class LatencySamples {
  private readonly samples: number[] = [];
  private seen = 0;

  constructor(private readonly max = 200_000) {}

  add(ms: number): void {
    this.seen++;
    if (this.samples.length < this.max) this.samples.push(ms);
    else this.samples[this.seen % this.max] = ms;
  }

  summary(): { p50: number; p99: number } {
    return {
      p50: round(percentile(this.samples, 50), 2),
      p99: round(percentile(this.samples, 99), 2),
    };
  }
}

export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
