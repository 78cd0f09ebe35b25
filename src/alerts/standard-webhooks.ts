import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks 1.0, symmetric scheme (standardwebhooks.com): the sender signs
 * `${webhook-id}.${webhook-timestamp}.${raw body}` with HMAC-SHA256 under the secret's bytes and
 * sends `webhook-signature: v1,<base64>` — several, space-separated, while a secret is rotated. A
 * receiver recomputes it from the raw body (never a re-serialised one) and refuses a timestamp
 * outside its tolerance, so a captured request cannot be replayed later.
 */

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** The spec's bounds on a symmetric secret: 24 to 64 random bytes. */
export const WEBHOOK_SECRET_MIN_BYTES = 24;
export const WEBHOOK_SECRET_MAX_BYTES = 64;
/** How far a timestamp may be from the receiver's clock, either way (the spec's 5 minutes). */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

const SECRET_HINT =
  `"${WEBHOOK_SECRET_PREFIX}" followed by the base64 of ${WEBHOOK_SECRET_MIN_BYTES} to ` +
  `${WEBHOOK_SECRET_MAX_BYTES} random bytes (e.g. \`echo whsec_$(openssl rand -base64 32)\`)`;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** The spec forbids `.` in the id (it delimits the signed content); we also keep it printable. */
const MESSAGE_ID = /^[A-Za-z0-9_-]{1,256}$/;
const SIGNATURE = /^v1,([A-Za-z0-9+/]{43}=)$/;
const TIMESTAMP = /^\d{1,12}$/;

/** A secret that is not `whsec_<base64 of 24–64 bytes>`; the message says what was wrong. */
export class WebhookSecretError extends Error {
  constructor(problem: string) {
    super(`${problem}: a webhook secret is ${SECRET_HINT}`);
    this.name = this.constructor.name;
  }
}

/** A request that does not carry a valid, fresh signature; the message says why. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** The HMAC key of a `whsec_…` secret. Throws WebhookSecretError, naming the problem. */
export function parseWebhookSecret(secret: unknown): Buffer {
  if (typeof secret !== 'string' || secret === '') throw new WebhookSecretError('no secret given');
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX))
    throw new WebhookSecretError(`the secret does not start with "${WEBHOOK_SECRET_PREFIX}"`);
  const encoded = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  if (!BASE64.test(encoded))
    throw new WebhookSecretError(`what follows "${WEBHOOK_SECRET_PREFIX}" is not base64`);
  const key = Buffer.from(encoded, 'base64');
  if (key.length < WEBHOOK_SECRET_MIN_BYTES || key.length > WEBHOOK_SECRET_MAX_BYTES)
    throw new WebhookSecretError(`the secret decodes to ${key.length} bytes`);
  return key;
}

/** What is signed: the message id, the attempt's Unix time in seconds and the raw body. */
export interface WebhookMessage {
  id: string;
  timestamp: number;
  body: string | Buffer;
}

/** The `v1,<base64>` signature of one message under one key. */
export function webhookSignature(key: Buffer, message: WebhookMessage): string {
  return `v1,${mac(key, message).toString('base64')}`;
}

/**
 * The three headers of a signed message. With several secrets (rotation: the new one and the one
 * being retired) the message carries one signature for each, and a receiver holding either
 * verifies it.
 */
export function signWebhook(
  secrets: string | readonly string[],
  message: WebhookMessage,
): { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string } {
  if (!MESSAGE_ID.test(message.id))
    throw new Error(`webhook id "${message.id}" must be 1-256 of A-Z, a-z, 0-9, "_" or "-"`);
  if (!Number.isSafeInteger(message.timestamp) || message.timestamp < 0)
    throw new Error(`webhook timestamp must be Unix seconds (got ${message.timestamp})`);
  const keys = (typeof secrets === 'string' ? [secrets] : secrets).map(parseWebhookSecret);
  if (keys.length === 0) throw new WebhookSecretError('no secret given');
  return {
    'webhook-id': message.id,
    'webhook-timestamp': String(message.timestamp),
    'webhook-signature': keys.map((key) => webhookSignature(key, message)).join(' '),
  };
}

/** Request headers as Node (`request.headers`) or fetch (`Headers`) gives them. */
export type WebhookHeaders =
  { get(name: string): string | null } | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** Seconds a timestamp may be away from `now`, either way (default 300). */
  toleranceSeconds?: number;
  /** The receiver's clock (default: now). */
  now?: Date | number;
}

/**
 * Checks a received message: the three headers present, the timestamp within the tolerance, and
 * one `v1` signature that matches the raw body under one of the secrets (compared in constant
 * time). Returns the message id (dedupe on it) and timestamp; throws WebhookVerificationError.
 */
export function verifyWebhook(
  secrets: string | readonly string[],
  headers: WebhookHeaders,
  body: string | Buffer,
  options: VerifyWebhookOptions = {},
): { id: string; timestamp: number } {
  const keys = (typeof secrets === 'string' ? [secrets] : secrets).map(parseWebhookSecret);
  const id = header(headers, 'webhook-id');
  const stamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (id === null || stamp === null || signatures === null)
    throw new WebhookVerificationError(
      'missing webhook-id, webhook-timestamp or webhook-signature header',
    );
  if (!TIMESTAMP.test(stamp))
    throw new WebhookVerificationError(`webhook-timestamp is not Unix seconds: "${stamp}"`);
  const timestamp = Number(stamp);
  const now = Math.floor(Number(options.now ?? Date.now()) / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
  if (now - timestamp > tolerance)
    throw new WebhookVerificationError(`message timestamp is too old (${now - timestamp} s)`);
  if (timestamp - now > tolerance)
    throw new WebhookVerificationError(`message timestamp is in the future (${timestamp - now} s)`);

  const expected = keys.map((key) => mac(key, { id, timestamp, body: rawBody(body) }, stamp));
  for (const candidate of signatures.split(' ')) {
    const match = SIGNATURE.exec(candidate);
    if (!match) continue; // another scheme (v1a…) or garbage: try the next one
    const given = Buffer.from(match[1], 'base64');
    if (expected.some((digest) => timingSafeEqual(digest, given))) return { id, timestamp };
  }
  throw new WebhookVerificationError('no matching signature');
}

/** HMAC-SHA256 over `id.timestamp.body`, the body's bytes as received. */
function mac(key: Buffer, message: WebhookMessage, stamp = String(message.timestamp)): Buffer {
  return createHmac('sha256', key)
    .update(`${message.id}.${stamp}.`, 'utf8')
    .update(rawBody(message.body))
    .digest();
}

function rawBody(body: string | Buffer): Buffer {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
}

/** One header's value; null when it is absent or repeated (a repeated one is not ours). */
function header(headers: WebhookHeaders, name: string): string | null {
  if (typeof (headers as { get?: unknown }).get === 'function')
    return (headers as { get(name: string): string | null }).get(name);
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return typeof value === 'string' ? value : null;
}
