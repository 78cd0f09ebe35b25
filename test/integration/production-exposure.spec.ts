import os from 'node:os';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  type TestDatabase,
} from '../support/postgres.js';
import { listeningSocketsOf, PROC_ADDRESS } from '../support/proc-net.js';
import {
  SERVICE_JWT_SECRET,
  spawnService,
  startService,
  type ServiceProcess,
} from '../support/service-process.js';
import { generateNoteKey } from '../../src/index.js';

// Issue 9, item 8b/8c, against the compiled service as a client sees it: with NODE_ENV=production
// the API docs and the metrics are not there unless switched on; HOST binds the listen address;
// and (issue 9, honest docs) a short JWT_SECRET stops start-up in every environment.

const METRICS_TOKEN = 'scrape-token-0123456789abcdef';
const DOCS_PATHS = [
  '/docs',
  '/docs/',
  '/docs-json',
  '/docs-yaml',
  '/docs/swagger-ui-init.js',
  '/docs/swagger-ui.css',
];

/** The first IPv4 address of this host that is not loopback (null on a host without one). */
function externalIPv4(): string | null {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

async function reachable(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

/** What any unknown route answers: a disabled one must not look different. */
const notFound = (path: string) => ({
  statusCode: 404,
  error: 'Not Found',
  message: `Cannot GET ${path}`,
});

describeWithPostgres('the compiled service: what it exposes, and where', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('exposure');
  });
  afterAll(async () => {
    await db?.drop();
  });

  const env = (extra: Record<string, string | undefined> = {}) => ({
    DATABASE_URL: db.url,
    JWT_SECRET: SERVICE_JWT_SECRET,
    ...extra,
  });
  // Production requires a checkpoint signing key (issue 11).
  const signing = generateNoteKey('exposure.test/audit');
  const production = (extra: Record<string, string | undefined> = {}) =>
    env({
      NODE_ENV: 'production',
      AUDIT_LOG_ORIGIN: 'exposure.test/audit',
      AUDIT_SIGNING_KEY: signing.signerKey,
      ...extra,
    });

  describe('with NODE_ENV=production and no switches', () => {
    let svc: ServiceProcess;
    beforeAll(async () => {
      svc = await startService({ env: production() });
    });

    it.each(DOCS_PATHS)('answers %s with the 404 of an unknown route', async (path) => {
      const res = await request(svc.base, 'GET', path);
      expect(res.status).toBe(404);
      expect(res.body).toEqual(notFound(path));
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    });

    it('answers /metrics 404 too, with or without a bearer token', async () => {
      for (const token of [undefined, METRICS_TOKEN]) {
        const res = await request(svc.base, 'GET', '/metrics', { token });
        expect(res.status).toBe(404);
        expect(res.body).toEqual(notFound('/metrics'));
        expect(res.text).not.toMatch(/strikeguard_/);
      }
    });

    it('still serves the API, and does not point to docs it does not serve', async () => {
      expect((await request(svc.base, 'GET', '/health')).status).toBe(200);
      expect(svc.stdout()).toMatch(/listening on http:\/\/localhost:\d+\n/);
      expect(svc.output()).not.toContain('/docs');
      expect(svc.stderr()).not.toMatch(/warning/);
    });
  });

  it('with DOCS_ENABLED=true and METRICS_TOKEN: docs open, metrics only with the token', async () => {
    const svc = await startService({
      env: production({ DOCS_ENABLED: 'true', METRICS_TOKEN }),
    });
    for (const path of ['/docs', '/docs-json']) {
      expect((await request(svc.base, 'GET', path)).status).toBe(200);
    }
    expect(svc.stdout()).toContain('(API docs at /docs)');
    const anonymous = await request(svc.base, 'GET', '/metrics');
    expect(anonymous.status).toBe(401);
    expect(anonymous.text).not.toMatch(/strikeguard_/);
    expect(anonymous.headers.get('cache-control')).toBe('no-store');
    const wrong = await request(svc.base, 'GET', '/metrics', { token: `${METRICS_TOKEN}x` });
    expect(wrong.status).toBe(401);
    const scraped = await request(svc.base, 'GET', '/metrics', { token: METRICS_TOKEN });
    expect(scraped.status).toBe(200);
    expect(scraped.text).toMatch(/strikeguard_/);
    expect(scraped.headers.get('cache-control')).toBe('no-store');
  });

  it('with METRICS_ENABLED=true and no token: metrics open, with a warning at start', async () => {
    const svc = await startService({ env: production({ METRICS_ENABLED: 'true' }) });
    const res = await request(svc.base, 'GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/strikeguard_/);
    expect(svc.stderr()).toMatch(
      /warning: METRICS_ENABLED=true without METRICS_TOKEN: GET \/metrics is open/,
    );
    expect((await request(svc.base, 'GET', '/docs')).status).toBe(404);
  });

  it('outside production serves /docs, /docs-json and open /metrics, as before', async () => {
    const svc = await startService({ env: env() });
    for (const path of ['/docs', '/docs-json', '/metrics']) {
      expect((await request(svc.base, 'GET', path)).status).toBe(200);
    }
    expect(svc.stdout()).toContain('(API docs at /docs)');
  });

  it('without HOST listens on every interface (as before); HOST=127.0.0.1 on loopback only', async () => {
    const everywhere = await startService({ env: production() });
    expect(listeningSocketsOf(everywhere.pid).map((s) => [s.address, s.port])).toEqual([
      [PROC_ADDRESS.ipv6Any, everywhere.port],
    ]);

    const loopback = await startService({ env: production({ HOST: '127.0.0.1' }) });
    expect(listeningSocketsOf(loopback.pid).map((s) => [s.address, s.port])).toEqual([
      [PROC_ADDRESS.ipv4Loopback, loopback.port],
    ]);
    expect(loopback.stdout()).toContain(`listening on http://127.0.0.1:${loopback.port}`);
    expect(await reachable(`http://127.0.0.1:${loopback.port}/health`)).toBe(true);

    // From another address of this host, as a neighbour on the network would come in.
    const ip = externalIPv4();
    if (ip) {
      expect(await reachable(`http://${ip}:${everywhere.port}/health`)).toBe(true);
      expect(await reachable(`http://${ip}:${loopback.port}/health`)).toBe(false);
    } else {
      console.warn('no non-loopback IPv4 address here: the network-side check is skipped');
    }
  });

  it('refuses to start with a 31-byte JWT_SECRET (outside production too) or a bad HOST', async () => {
    const svc = await spawnService({
      env: env({ JWT_SECRET: 'k'.repeat(31), HOST: 'http://0.0.0.0' }),
    });
    const exit = await svc.waitForExit(30_000);
    expect(exit.code).toBe(2);
    expect(svc.stderr()).toContain(
      'JWT_SECRET is shorter than 32 bytes (31): set it to at least 32 random bytes',
    );
    expect(svc.stderr()).toContain(
      'HOST must be an IP address (127.0.0.1, ::1, 0.0.0.0, ::) or a host name (got "http://0.0.0.0"); unset it to listen on every interface',
    );
    expect(svc.output()).not.toContain('listening on');
  });
});
