import { MAX_DEVICE_TOKEN_LENGTH } from './device-token.js';

/** The request header a non-browser client presents its device token in. */
export const DEVICE_TOKEN_HEADER = 'x-device-token';

interface RequestLike {
  headers?: Record<string, string | string[] | undefined>;
}

/** The device token a request presents: the `X-Device-Token` header, else the cookie. */
export function presentedDeviceToken(request: RequestLike, cookieName: string): string | null {
  const header = request.headers?.[DEVICE_TOKEN_HEADER];
  if (typeof header === 'string' && header.length <= MAX_DEVICE_TOKEN_LENGTH) return header.trim();
  const cookies = request.headers?.cookie;
  if (typeof cookies !== 'string' || cookies.length > 8192) return null;
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === cookieName) {
      const value = part.slice(eq + 1).trim();
      return value.length <= MAX_DEVICE_TOKEN_LENGTH ? value : null;
    }
  }
  return null;
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
