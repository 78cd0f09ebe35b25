import { isIP } from 'node:net';

/**
 * Which hops in front of the service are trusted to say who the client is (Express `trust proxy`):
 * `false` (none: the socket's address is the client), a hop count, or a list of names, addresses
 * and CIDRs. Never "every hop": then any client picks its own recorded address.
 */
export type TrustProxy = false | number | string[];

/** Most proxies a hop count may name: beyond the real number, a client can forge its address. */
export const MAX_PROXY_HOPS = 10;
const NAMES = ['loopback', 'linklocal', 'uniquelocal'];
const FORMS =
  `a hop count from 1 to ${MAX_PROXY_HOPS} (the number of proxies in front of the service), ` +
  `or a comma-separated list of ${NAMES.join(', ')}, IP addresses and CIDRs ` +
  '(e.g. "loopback, 10.0.0.0/8"); false trusts none';

/** Reads `TRUST_PROXY`; a value that would trust every hop is a problem, not a default. */
export function parseTrustProxy(
  raw: string | undefined,
  problems: string[],
  name = 'TRUST_PROXY',
): TrustProxy {
  const value = raw?.trim() ?? '';
  if (value === '' || /^(false|no|0)$/i.test(value)) return false;
  if (/^(true|yes|all|\*)$/i.test(value)) {
    problems.push(
      `${name}=${value} would trust every hop, so any client could choose the address recorded ` +
        `for it with X-Forwarded-For; name the proxies instead: ${FORMS}`,
    );
    return false;
  }
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops >= 1 && hops <= MAX_PROXY_HOPS) return hops;
    problems.push(`${name} must be ${FORMS} (got "${value}")`);
    return false;
  }
  const entries = value.split(',').map((e) => e.trim());
  const bad = entries.filter((e) => !trustEntryValid(e));
  if (bad.length) {
    problems.push(
      `${name} must be ${FORMS}; not understood: ${bad.map((b) => `"${b}"`).join(', ')}`,
    );
    return false;
  }
  return entries.map((e) => (NAMES.includes(e.toLowerCase()) ? e.toLowerCase() : e));
}

/** A name, an address, or a CIDR that does not cover the whole address space (no /0). */
function trustEntryValid(entry: string): boolean {
  if (NAMES.includes(entry.toLowerCase())) return true;
  const [address, prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  // A zone index (fe80::1%eth0) names an interface, not a proxy.
  if (family === 0 || address.includes('%') || rest.length) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  const bits = Number(prefix);
  return bits >= 1 && bits <= (family === 4 ? 32 : 128);
}
