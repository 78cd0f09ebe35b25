import { CliError } from './cli-error.js';

/** Time a running service has to answer one CLI request. */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * `--url` as a base for the API's paths: http or https only, and a path prefix kept (a service
 * behind `https://host/strikeguard/` is asked `https://host/strikeguard/audit/…`).
 */
export function serviceBase(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`--url ${JSON.stringify(raw)} is not a URL (e.g. http://127.0.0.1:3000)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CliError(`--url must be http:// or https:// (got ${url.protocol})`);
  if (url.username || url.password)
    throw new CliError('--url must not carry credentials: pass the token with --token');
  if (url.search || url.hash) throw new CliError('--url must not have a query or a fragment');
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/** A body that is not what the API documents: the service (or what answers as it) is wrong. */
export function malformed(path: string, what: string): CliError {
  return new CliError(`GET ${path.split('?')[0]} answered ${what}: is --url the strikeguard API?`);
}

/** GET requests to a running service's API with a bearer token, each bounded in time. */
export class ServiceClient {
  readonly base: URL;

  constructor(
    baseUrl: string,
    private readonly token: string,
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {
    this.base = serviceBase(baseUrl);
  }

  /** The response to GET `path` (absolute API path), whatever its status. */
  async request(path: string): Promise<Response> {
    try {
      return await fetch(new URL(path.replace(/^\//, ''), this.base), {
        headers: { authorization: `Bearer ${this.token}` },
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const e = error as Error & { cause?: Error };
      if (e.name === 'TimeoutError')
        throw new CliError(`no answer from ${this.base.origin} within ${this.timeoutMs} ms`);
      throw new CliError(`cannot reach ${this.base.origin}: ${e.cause?.message ?? e.message}`);
    }
  }

  /** The JSON body of a 2xx answer; any other status is an error naming what the API said. */
  async json(path: string): Promise<unknown> {
    const res = await this.request(path);
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok)
      throw new CliError(`${res.status} from ${path.split('?')[0]}: ${reason(body, res)}`);
    if (body === undefined || body === null || typeof body !== 'object')
      throw malformed(path, `${res.status} with a body that is not a JSON object`);
    return body;
  }
}

function reason(body: unknown, res: Response): string {
  const b = body as { message?: unknown; errors?: { path?: unknown; message?: unknown }[] } | null;
  if (b && Array.isArray(b.errors) && b.errors.length > 0)
    return b.errors.map((e) => `${String(e.path)} ${String(e.message)}`).join('; ');
  if (b && typeof b.message === 'string') return b.message;
  return res.statusText || 'no message';
}
