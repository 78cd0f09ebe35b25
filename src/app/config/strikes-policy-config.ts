import { parseDuration, parseInteger } from './env-values.js';

/** The strike policy beyond the thresholds: mode, decay, timed blocks (issue 12). */
export interface StrikesPolicyConfig {
  mode: 'enforce' | 'monitor';
  /** Seconds; null: cumulative for ever. */
  decayAfter: number | null;
  /** Seconds; null: until an admin unblocks. */
  blockFor: number | null;
  permanentAfter: number;
}

/** A duration up to 3,650 days, or null when unset or `off`-like (`none`). */
function optionalDuration(
  env: NodeJS.ProcessEnv,
  name: string,
  offWords: string[],
  problems: string[],
): number | null {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '' || offWords.includes(raw.toLowerCase())) return null;
  const seconds = parseDuration({ [name]: raw }, name, -1, problems, 3650);
  return seconds === -1 ? null : seconds;
}

/**
 * STRIKES_MODE (`enforce` | `monitor`), STRIKES_DECAY (a duration, or `off`), STRIKES_BLOCK_FOR
 * (a duration, or `admin`: until an admin unblocks), STRIKES_PERMANENT_AFTER (timed blocks before
 * a permanent one).
 */
export function parseStrikesPolicy(
  env: NodeJS.ProcessEnv,
  problems: string[],
): StrikesPolicyConfig {
  const mode = (env.STRIKES_MODE || 'enforce').trim().toLowerCase();
  if (mode !== 'enforce' && mode !== 'monitor')
    problems.push(
      `STRIKES_MODE must be "enforce" (thresholds act) or "monitor" (counted and recorded as simulated, nothing refused) (got "${env.STRIKES_MODE}")`,
    );
  return {
    mode: mode === 'monitor' ? 'monitor' : 'enforce',
    decayAfter: optionalDuration(env, 'STRIKES_DECAY', ['off', 'never'], problems),
    blockFor: optionalDuration(env, 'STRIKES_BLOCK_FOR', ['admin', 'off', 'never'], problems),
    permanentAfter: parseInteger(env, 'STRIKES_PERMANENT_AFTER', 3, 1, 1000, problems),
  };
}
