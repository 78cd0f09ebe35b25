import { type AuditRecord } from '../audit/audit-record.js';
import { parseRetryAfter } from './alert-backoff.js';
import { signWebhook } from './standard-webhooks.js';

/** How one attempt went. A failure says why, and when the receiver asked to be retried. */
export type WebhookDelivery =
  | { ok: true; status: number; durationMs: number }
  | {
      ok: false;
      /** The receiver's status; null when it never answered (timeout, connection refused…). */
      status: number | null;
      /** Low-cardinality kind, for metrics: `status`, `timeout`, `connection`. */
      kind: 'status' | 'timeout' | 'connection';
      error: string;
      retryAfterMs: number | null;
      durationMs: number;
    };

export interface WebhookNotifierOptions {
  url: string | URL;
  /** One `whsec_…` secret, or several while rotating (each request is signed with each). */
  secret: string | readonly string[];
  /** A request unanswered this long fails (default 10,000 ms). */
  timeoutMs?: number;
}

/**
 * The stable id of an audit record's alert: `sg_<audit id>_<first 16 hex of its hash>`. Every
 * retry, every instance and every restart sends the same one, so a receiver dedupes on it; the
 * hash part keeps two audit chains' records apart at one receiver.
 */
export function alertMessageId(record: Pick<AuditRecord, 'id' | 'hash'>): string {
  return `sg_${record.id}_${record.hash.slice(0, 16)}`;
}

/**
 * The request body: Standard Webhooks' `{type, timestamp, data}` with the audit record as the
 * audit API returns it (`id` and `hash` included, so a receiver can check it against the chain).
 */
export function alertBody(record: AuditRecord): string {
  return JSON.stringify({ type: record.type, timestamp: record.occurredAt, data: record });
}

/**
 * Sends one audit record to a webhook receiver: a signed JSON POST (Standard Webhooks), one
 * record per request. Success is a 2xx; a redirect is a failure (not followed: the signed
 * alert goes to the configured URL only). It never throws: the outcome says what happened.
 * AlertsModule delivers through it from the outbox, at least once and in order; a host may also
 * call it from its own code (StrikesModule's hooks, say), without those guarantees.
 */
export class WebhookNotifier {
  readonly url: URL;
  private readonly secrets: readonly string[];
  private readonly timeoutMs: number;

  constructor(options: WebhookNotifierOptions) {
    this.url = new URL(String(options.url));
    this.secrets = typeof options.secret === 'string' ? [options.secret] : options.secret;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    // Checks every secret now, not at the first alert.
    signWebhook(this.secrets, { id: 'check', timestamp: 0, body: '' });
  }

  async send(record: AuditRecord): Promise<WebhookDelivery> {
    const body = alertBody(record);
    const headers = signWebhook(this.secrets, {
      id: alertMessageId(record),
      timestamp: Math.floor(Date.now() / 1000),
      body,
    });
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'strikeguard', ...headers },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      return {
        ok: false,
        status: null,
        kind: timedOut ? 'timeout' : 'connection',
        error: timedOut ? `no answer within ${this.timeoutMs} ms` : connectionError(error),
        retryAfterMs: null,
        durationMs: elapsed(),
      };
    }
    // The answer's body is not needed: drop it (this also frees the connection).
    await response.body?.cancel().catch(() => undefined);
    const status = response.status;
    if (status >= 200 && status < 300) return { ok: true, status, durationMs: elapsed() };
    return {
      ok: false,
      status,
      kind: 'status',
      error: statusError(status),
      retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
      durationMs: elapsed(),
    };
  }
}

function statusError(status: number): string {
  if (status >= 300 && status < 400)
    return `HTTP ${status}: redirects are not followed, configure the URL it redirects to`;
  if (status === 410)
    return 'HTTP 410 Gone: the receiver wants no more alerts; they are kept and retried until the webhook is fixed or removed';
  return `HTTP ${status}`;
}

/** "cannot connect: ECONNREFUSED" — the cause's code, without addresses or URLs. */
function connectionError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (error as { code?: string }).code;
  if (code) return `cannot connect: ${code}`;
  return `request failed: ${cause?.message ?? (error as Error).message}`;
}
