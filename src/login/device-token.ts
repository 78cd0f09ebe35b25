import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

/**
 * A trusted device's token: `sgd1.<device id>.<signature>`, base64url, the signature an
 * HMAC-SHA256 over the version, the device id and the account key. It is bound to the account
 * (presented for another one it is ignored) and valid only while its `login_devices` row exists,
 * so it is revoked by deleting that row.
 */
const VERSION = 'sgd1';
const TOKEN = /^sgd1\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
/** Longest header or cookie value looked at; anything longer is not a token. */
export const MAX_DEVICE_TOKEN_LENGTH = 128;

export function newDeviceId(): string {
  return randomUUID();
}

export function signDeviceToken(key: Buffer, deviceId: string, account: Buffer): string {
  const id = uuidBytes(deviceId);
  return `${VERSION}.${id.toString('base64url')}.${mac(key, id, account).toString('base64url')}`;
}

/** The device id of a token signed for this account; null for anything else (no hint why). */
export function verifyDeviceToken(key: Buffer, token: unknown, account: Buffer): string | null {
  if (typeof token !== 'string' || token.length > MAX_DEVICE_TOKEN_LENGTH) return null;
  const match = TOKEN.exec(token);
  if (!match) return null;
  const id = Buffer.from(match[1], 'base64url');
  const signature = Buffer.from(match[2], 'base64url');
  if (id.length !== 16 || signature.length !== 32) return null;
  if (!timingSafeEqual(signature, mac(key, id, account))) return null;
  const hex = id.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function mac(key: Buffer, id: Buffer, account: Buffer): Buffer {
  return createHmac('sha256', key).update(VERSION).update(id).update(account).digest();
}

function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}
