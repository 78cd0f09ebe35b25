import { MAX_DEVICE_TOKEN_LENGTH } from './device-token.js';

/** The request header a non-browser client presents its device token in. */
export const DEVICE_TOKEN_HEADER = 'x-device-token';

interface RequestLike {
  headers?: Record<string, string | string[] | undefined>;
}

/** Candidates looked at per request, at most (header first, then cookies of that name). */
export const MAX_DEVICE_CANDIDATES = 4;

/**
 * Every device token a request presents: the `X-Device-Token` header, then each cookie of that
 * name (a browser sends a more specific path's cookie, or one a sibling domain planted, first).
 * The caller uses the first that verifies, so a junk one cannot hide the owner's valid one.
 */
export function presentedDeviceTokens(request: RequestLike, cookieName: string): string[] {
  const found: string[] = [];
  const header = request.headers?.[DEVICE_TOKEN_HEADER];
  for (const value of Array.isArray(header) ? header : [header])
    if (typeof value === 'string' && value.length <= MAX_DEVICE_TOKEN_LENGTH)
      found.push(value.trim());
  const cookies = request.headers?.cookie;
  if (typeof cookies === 'string' && cookies.length <= 8192) {
    for (const part of cookies.split(';')) {
      if (found.length >= MAX_DEVICE_CANDIDATES) break;
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === cookieName) {
        const value = part.slice(eq + 1).trim();
        if (value.length <= MAX_DEVICE_TOKEN_LENGTH) found.push(value);
      }
    }
  }
  return found.slice(0, MAX_DEVICE_CANDIDATES);
}

/** A `Set-Cookie` value for a device token: HttpOnly, SameSite=Strict, Secure unless told not. */
export function deviceCookie(
  token: string,
  options: { name: string; secure: boolean; path: string; maxAgeSeconds: number },
): string {
  return [
    `${options.name}=${token}`,
    `Path=${options.path}`,
    `Max-Age=${options.maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}
