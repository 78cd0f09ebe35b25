/**
 * The delay before retry number `failures` (1 for the first): the base doubled for each earlier
 * failure, capped, with "equal jitter" (half fixed, half random) so that instances and
 * destinations that failed together do not retry in lockstep. A receiver's `Retry-After` (429,
 * 503) is honoured when it asks for longer, up to the cap.
 */
export function retryDelayMs(
  failures: number,
  options: { retryBaseMs: number; retryMaxMs: number },
  retryAfterMs: number | null = null,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(failures, 1) - 1, 40);
  const ceiling = Math.min(options.retryMaxMs, options.retryBaseMs * 2 ** exponent);
  const jittered = Math.round(ceiling / 2 + (random() * ceiling) / 2);
  return Math.min(options.retryMaxMs, Math.max(jittered, retryAfterMs ?? 0));
}

/** `Retry-After` as milliseconds from `now`: delay-seconds or an HTTP date; null otherwise. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d{1,9}$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) || !/[a-z]/i.test(text) ? null : Math.max(0, at - now);
}
