import { performance } from 'node:perf_hooks';
import { request, type TestResponse } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  type TestDatabase,
} from '../support/postgres.js';
import {
  PASSWORD,
  startService,
  uniqueUsername,
  type ServiceProcess,
} from '../support/service-process.js';

// Issue 10: a guesser cannot tell an existing account from one that does not exist — not by the
// 401 (bytes and headers), not by its timing, not by when the throttle starts answering 429.

const WRONG = 'not-the-password-at-all';
const SAMPLES = 200;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Every header but the ones that differ per response whatever the account (Date). */
function headersOf(res: TestResponse): [string, string][] {
  return [...res.headers.entries()].filter(([name]) => name !== 'date').sort();
}

describeWithPostgres('no username enumeration through login (issue 10)', () => {
  let db: TestDatabase;
  let service: ServiceProcess;
  let known: string;

  beforeAll(async () => {
    db = await createTestDatabase('sg_enum');
    service = await startService({
      lifetime: 'file',
      env: {
        DATABASE_URL: db.url,
        // Room for every sample: this measures the password check, not the throttle.
        LOGIN_FREE_ATTEMPTS: '1000',
        LOGIN_ACCOUNT_LIMIT: '100000',
        LOGIN_SOURCE_LIMIT: '100000',
        LOGIN_HARD_LIMIT: '100000',
      },
    });
    known = uniqueUsername('known');
    const res = await request(service.base, 'POST', '/auth/register', {
      body: { username: known, password: PASSWORD },
    });
    expect(res.status).toBe(201);
  }, 120_000);
  afterAll(async () => {
    await service?.stop();
    await db?.drop();
  });

  const attempt = (username: string) =>
    request(service.base, 'POST', '/auth/login', { body: { username, password: WRONG } });

  it('answers the same 401, byte for byte and header for header, for a known and an unknown account', async () => {
    const [a, b] = [await attempt(known), await attempt(uniqueUsername('nobody'))];
    expect(a.status).toBe(401);
    expect(a.text).toBe(b.text);
    expect(headersOf(a)).toEqual(headersOf(b));
  });

  it(`takes the same time for both: medians within 10 % over ${SAMPLES} interleaved samples each`, async () => {
    const unknown = uniqueUsername('nobody');
    // Warm-up: connections, JIT, argon2's first allocation.
    for (let i = 0; i < 10; i++) await Promise.all([attempt(known), attempt(unknown)]);
    const times: Record<'known' | 'unknown', number[]> = { known: [], unknown: [] };
    for (let i = 0; i < SAMPLES; i++) {
      // Interleaved, and in alternating order, so drift in the machine's load hits both alike.
      const order: ('known' | 'unknown')[] = i % 2 ? ['known', 'unknown'] : ['unknown', 'known'];
      for (const which of order) {
        const started = performance.now();
        const res = await attempt(which === 'known' ? known : unknown);
        times[which].push(performance.now() - started);
        expect(res.status).toBe(401);
      }
    }
    const [k, u] = [median(times.known), median(times.unknown)];
    expect(Math.abs(k - u) / Math.min(k, u)).toBeLessThan(0.1);
  }, 180_000);
});
