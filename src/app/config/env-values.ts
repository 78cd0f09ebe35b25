/** Parsers of environment values; each bad value is reported with what was expected. */

export function parseInteger(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
    return fallback;
  }
  return Number(raw);
}

export function parseBoolean(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: boolean,
  problems: string[],
): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes)$/i.test(raw)) return true;
  if (/^(0|false|no)$/i.test(raw)) return false;
  problems.push(`${name} must be true or false (got "${raw}")`);
  return fallback;
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Accepts seconds (`900`) or a number with a unit (`90s`, `15m`, `2h`, `1d`). */
export function parseDuration(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  problems: string[],
  maxDays = 30,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const match = /^(\d+)([smhd]?)$/.exec(raw.trim());
  const seconds = match ? Number(match[1]) * DURATION_UNITS[match[2] || 's'] : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > maxDays * 86400) {
    problems.push(
      `${name} must be a duration from 1s to ${maxDays}d, as seconds or with a unit s, m, h or d (got "${raw}")`,
    );
    return fallback;
  }
  return seconds;
}

const MILLIS_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration in milliseconds: seconds (`10`), or a number with a unit (`250ms`, `10s`, `5m`,
 * `1h`), from `minMs` to `maxMs`.
 */
export function parseMillis(
  env: NodeJS.ProcessEnv,
  name: string,
  fallbackMs: number,
  minMs: number,
  maxMs: number,
  problems: string[],
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallbackMs;
  const match = /^(\d+)(ms|s|m|h)?$/.exec(raw.trim());
  const ms = match ? Number(match[1]) * MILLIS_UNITS[match[2] || 's'] : NaN;
  if (!Number.isSafeInteger(ms) || ms < minMs || ms > maxMs) {
    problems.push(
      `${name} must be a duration from ${showMillis(minMs)} to ${showMillis(maxMs)}, as seconds or with a unit ms, s, m or h (got "${raw}")`,
    );
    return fallbackMs;
  }
  return ms;
}

function showMillis(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
