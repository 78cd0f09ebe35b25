import { createSecretKey, type KeyObject } from 'node:crypto';

/** The only algorithm a token may use: pinned, so `alg: none` or RS/HS confusion cannot pass. */
export const JWT_ALGORITHM = 'HS256';

/**
 * A KeyObject, not the string: `jsonwebtoken` first tries to parse a string secret as a public key
 * on every verify, which costs ~345 µs a call (STACK.md) — more than the rest of the request.
 */
export function jwtKey(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret, 'utf8'));
}
