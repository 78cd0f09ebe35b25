/** Keys whose values never reach the audit trail (matched case-insensitively, as substrings). */
export const DEFAULT_REDACT_KEYS = [
  'password',
  'passwd',
  'secret',
  'token',
  'authorization',
  'cookie',
  'apikey',
  'api_key',
  'privatekey',
  'private_key',
  'credential',
];

export const REDACTED = '[REDACTED]';

/** A deep copy of `value` with the values of secret-looking keys replaced by "[REDACTED]". */
export function redact(value: unknown, keys: string[], depth = 0): unknown {
  if (depth > 32) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redact(v, keys, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const lower = k.toLowerCase();
      // Defined, not assigned: a body's "__proto__" member stays a member (assigning it would set
      // the copy's prototype and drop the member from the record).
      Object.defineProperty(out, k, {
        value: keys.some((key) => lower.includes(key)) ? REDACTED : redact(v, keys, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}
