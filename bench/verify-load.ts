// `npm run bench:verify-load [-- --records=200000 --seconds=5]`: verification as a load on the
// service (issue 9, item 7). Prints and writes bench/verify-load.json (gitignored with results).
//  - `verify_one_ms`: GET /audit/verify/:id, one at a time (median of 10, early and late ids);
//  - `me_alone` / `me_under_verify`: req/s of GET /me (autocannon, 32 connections), alone and
//    while 32 clients call GET /audit/verify/:id back to back;
//  - `full_verify_ms`: one GET /audit/verify alone;
//  - `full_verify_pair`: the statuses of two GET /audit/verify sent together.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { load } from './lib/load.js';
import { generateHistory } from './lib/records.js';
import { type BenchService, startService } from './lib/service.js';
import { BENCH_JWT_SECRET, createBenchDatabase, createUsers, migrate } from './lib/setup.js';
import { median, round } from './lib/stats.js';

const argv = process.argv.slice(2);
const option = (name: string): string | undefined =>
  argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const RECORDS = Number(option('records') ?? 200_000);
const SECONDS = Number(option('seconds') ?? 5);
const CONNECTIONS = 32;
const INSTANCE = 'bench-service';
const OUT = path.join(
  path.dirname(fileURLToPath(import.meta.url)).replace(`${path.sep}dist${path.sep}`, path.sep),
  'verify-load.json',
);

const log = (line: string) => console.log(line);

async function get(base: string, url: string, token: string) {
  const started = performance.now();
  const res = await fetch(`${base}${url}`, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.text();
  return { status: res.status, body, ms: performance.now() - started, headers: res.headers };
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strikeguard-verify-load-'));
  const db = await createBenchDatabase();
  let service: BenchService | null = null;
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  try {
    await migrate(db.url);
    const client = await pool.connect();
    const { users, admin } = await createUsers(client, 1000);
    client.release();
    const auditDir = path.join(tmp, 'audit');
    const generated = performance.now();
    await generateHistory(pool, RECORDS, INSTANCE, path.join(auditDir, 'audit.log'));
    log(`${RECORDS} records in ${round((performance.now() - generated) / 1000, 1)} s`);
    service = await startService(tmp, {
      DATABASE_URL: db.url,
      JWT_SECRET: BENCH_JWT_SECRET,
      AUDIT_LOG_DIR: auditDir,
      AUDIT_INSTANCE_ID: INSTANCE,
      STRIKES_TERMINATE_AT: '1000000',
      STRIKES_BLOCK_AT: '1000000',
    });
    const svc = service;
    const tokens = users.map((u) => u.token);
    for (const token of tokens) await get(svc.base, '/me', token); // session states cached

    const results: Record<string, unknown> = { records: RECORDS, cores: os.cpus().length };
    const one = async (id: number) => {
      const runs: number[] = [];
      for (let i = 0; i < 10; i++) {
        const res = await get(svc.base, `/audit/verify/${id}`, admin.token);
        if (res.status !== 200 || !JSON.parse(res.body).ok)
          throw new Error(`verify/${id}: ${res.status} ${res.body}`);
        runs.push(res.ms);
      }
      return round(median(runs), 2);
    };
    results.verify_one_ms = {
      [RECORDS >> 1]: await one(RECORDS >> 1),
      [RECORDS - 10]: await one(RECORDS - 10),
    };
    log(`GET /audit/verify/:id median ms: ${JSON.stringify(results.verify_one_ms)}`);

    const me = () =>
      load({
        base: svc.base,
        path: '/me',
        tokens,
        connections: CONNECTIONS,
        seconds: SECONDS,
        expectStatus: 200,
      });
    await me(); // warm-up
    const alone = await me();
    let running = true;
    let verifyCalls = 0;
    const statuses: Record<number, number> = {};
    const verifiers = Array.from({ length: CONNECTIONS }, async (_, c) => {
      for (let i = 0; running; i++) {
        const id = 1 + ((c * 7919 + i * 104729) % RECORDS);
        const res = await get(svc.base, `/audit/verify/${id}`, admin.token);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        verifyCalls++;
      }
    });
    const loaded = await me();
    running = false;
    await Promise.all(verifiers);
    results.me_alone = { rate: round(alone.rate, 1), p99: alone.p99 };
    results.me_under_verify = {
      rate: round(loaded.rate, 1),
      p99: loaded.p99,
      verify_calls_per_s: round(verifyCalls / SECONDS, 1),
      verify_statuses: statuses,
    };
    log(`GET /me alone: ${JSON.stringify(results.me_alone)}`);
    log(`GET /me with 32 verify/:id in parallel: ${JSON.stringify(results.me_under_verify)}`);

    const full = await get(svc.base, '/audit/verify', admin.token);
    if (full.status !== 200 || !JSON.parse(full.body).ok)
      throw new Error(`verify: ${full.status} ${full.body}`);
    results.full_verify_ms = round(full.ms, 0);
    log(`GET /audit/verify alone: ${results.full_verify_ms} ms`);

    const pair = await Promise.all([0, 1].map(() => get(svc.base, '/audit/verify', admin.token)));
    results.full_verify_pair = pair.map((r) => ({
      status: r.status,
      ms: round(r.ms, 0),
      retryAfter: r.headers.get('retry-after'),
    }));
    log(`two GET /audit/verify together: ${JSON.stringify(results.full_verify_pair)}`);
    fs.writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    await service?.stop();
    await pool.end();
    await db.drop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
