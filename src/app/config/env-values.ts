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
