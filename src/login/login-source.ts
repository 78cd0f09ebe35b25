import { isIPv4, isIPv6 } from 'node:net';

/** The source of an attempt whose address is not known (no socket address, say). */
export const UNKNOWN_SOURCE = 'unknown';

/**
 * The source an address counts under: an IPv4 address as it is (a /32), an IPv6 address by its
 * /64 prefix (what one subscriber is usually given), an IPv4-mapped IPv6 address as the IPv4
 * address. null for anything that is not an IP address.
 */
export function sourceOf(address: string): string | null {
  if (typeof address !== 'string' || address.length > 64) return null;
  const ip = address.replace(/%[0-9A-Za-z._~-]{1,32}$/, ''); // an IPv6 zone id
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return null;
  const hextets = expandIPv6(ip.toLowerCase());
  if (hextets.slice(0, 5).every((h) => h === 0) && hextets[5] === 0xffff)
    return `${hextets[6] >> 8}.${hextets[6] & 255}.${hextets[7] >> 8}.${hextets[7] & 255}`;
  return `${hextets
    .slice(0, 4)
    .map((h) => h.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` and a dotted IPv4 tail expanded). */
function expandIPv6(ip: string): number[] {
  let text = ip;
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number);
    text =
      text.slice(0, tail.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const groups =
    rest === undefined
      ? left
      : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => parseInt(g, 16));
}
