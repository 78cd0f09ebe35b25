import autocannon from 'autocannon';
import { readRss } from './service.js';
import { round } from './stats.js';

export interface LoadOptions {
  base: string;
  path: string;
  method?: 'GET' | 'POST';
  /** Sent as-is with Content-Type application/json. */
  body?: string;
  /** One bearer token per request, cycled (every connection takes the next one). */
  tokens: string[];
  connections: number;
  seconds: number;
  /** The status every response should have; the rate counts only these. */
  expectStatus: number;
  /** Service pid whose RSS is sampled during the run. */
  pid?: number;
}

export interface LoadResult {
  /** Responses with the expected status per second. */
  rate: number;
  count: number;
  /** Responses with another status, and connection errors or timeouts. */
  unexpected: number;
  statuses: Record<string, number>;
  p50: number;
  p99: number;
  /** Peak RSS of the service during the run, MiB. */
  peakRss: number;
}

/** One autocannon run against the service. */
export async function load(options: LoadOptions): Promise<LoadResult> {
  let next = 0;
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let peak = options.pid ? readRss(options.pid).rss : NaN;
  const sampler = options.pid
    ? setInterval(() => {
        const { rss } = readRss(options.pid!);
        if (rss > peak) peak = rss;
      }, 100)
    : null;
  try {
    const result = await autocannon({
      url: options.base,
      connections: options.connections,
      duration: options.seconds,
      timeout: 30,
      requests: [
        {
          method: options.method ?? 'GET',
          path: options.path,
          headers,
          body: options.body,
          setupRequest: (request) => ({
            ...request,
            headers: {
              ...request.headers,
              authorization: `Bearer ${options.tokens[next++ % options.tokens.length]}`,
            },
          }),
        },
      ],
    });
    const statuses: Record<string, number> = {};
    for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) {
      statuses[code] = stat.count ?? 0;
    }
    const count = statuses[String(options.expectStatus)] ?? 0;
    const total = Object.values(statuses).reduce((a, b) => a + b, 0);
    return {
      rate: count / result.duration,
      count,
      unexpected: total - count + result.errors,
      statuses,
      p50: round(result.latency.p50, 2),
      p99: round(result.latency.p99, 2),
      peakRss: round(Math.max(peak, options.pid ? readRss(options.pid).rss : NaN), 1),
    };
  } finally {
    if (sampler) clearInterval(sampler);
  }
}
