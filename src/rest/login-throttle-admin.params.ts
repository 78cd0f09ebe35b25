import { isIPv6 } from 'node:net';
import { parseLimit, unknownParams } from '../common/query-params.js';
import { ValidationFailedException } from '../common/schema-validation.pipe.js';

/** What a source key can hold: an IPv4 address, an IPv6 /64 prefix (`…::/64`), `unknown`. */
const SOURCE_KEY = /^[0-9a-z.:/]{1,64}$/;

/** `throttled`, `limit` and `cursor` of GET /admin/login-throttle/sources. */
export function parseSourceListParams(params: Record<string, unknown>) {
  const errors = unknownParams(params, ['throttled', 'limit', 'cursor']);
  const { throttled, cursor } = params;
  if (throttled !== undefined && throttled !== 'true' && throttled !== 'false') {
    errors.push({ path: 'throttled', message: 'must be true or false' });
  }
  const limit = parseLimit(params, 'limit', errors);
  let after: string | null = null;
  if (cursor !== undefined) {
    after =
      typeof cursor === 'string' && /^[A-Za-z0-9_-]{1,100}$/.test(cursor)
        ? Buffer.from(cursor, 'base64url').toString('utf8')
        : null;
    if (after === null || !SOURCE_KEY.test(after))
      errors.push({ path: 'cursor', message: 'is not a cursor this API returned' });
  }
  if (errors.length) throw new ValidationFailedException(errors);
  return { throttled: throttled === 'true', limit, after };
}

/** The cursor of a page that ends with this source. */
export function sourceCursor(source: string): string {
  return Buffer.from(source, 'utf8').toString('base64url');
}

/**
 * The address of DELETE /admin/login-throttle/sources/:ip as the service takes it: an IPv4 or IPv6
 * address, or an IPv6 source as GET …/sources lists it (`2001:db8:0:0::/64`), read as the prefix's
 * first address (the same /64). Anything else goes as it is, for the service to refuse.
 */
export function sourceAddress(raw: string): string {
  if (raw.endsWith('/64') && isIPv6(raw.slice(0, -3))) return raw.slice(0, -3);
  return raw;
}

/** The 400 for a :ip that is not an IP address. */
export function invalidSource(): ValidationFailedException {
  return new ValidationFailedException([
    {
      path: 'ip',
      message: 'must be an IPv4 or IPv6 address (an IPv6 address stands for its /64)',
    },
  ]);
}
