// `npm run bench [-- --quick] [-- --only=a,b] [-- --rounds=N --seconds=S --records=N]`
// Builds nothing itself (the npm script compiles first); see bench/README.md.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { get as httpGet } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type UnchainedRecord } from '../src/audit/audit-record.js';
import { RECORD_SELECT } from '../src/audit/audit-store.js';
import { AuditVerifier } from '../src/audit/audit-verifier.js';
import { generateNoteKey } from '../src/transparency/note-keys.js';
import {
  IN_PROCESS_INSTANCE,
  POOL_SIZE,
  startInProcessAudit,
  startInProcessLogin,
  startInProcessStrikes,
  TREE_ORIGIN,
  startLoginPeer,
  startPeer,
} from './lib/in-process.js';
import { load, type LoadResult } from './lib/load.js';
import {
  connectClients,
  rawIngest,
  rawStrikes,
  rawStrikesBatched,
  timedWorkers,
} from './lib/raw.js';
import { bareVerifyLoop, generateHistory, HISTORY_KINDS, HISTORY_USERS } from './lib/records.js';
import {
  type BenchService,
  HOST_APP_MAIN,
  PEER_NEST_MAIN,
  startService,
  withRssPeak,
} from './lib/service.js';
import {
  BENCH_DATABASE_URL,
  BENCH_JWT_SECRET,
  type BenchDatabase,
  createBenchDatabase,
  createUsers,
  migrate,
} from './lib/setup.js';
import { median, percentile, round } from './lib/stats.js';

// ---------------------------------------------------------------------------------------------
// Options

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string): string | undefined =>
  argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const quick = flag('quick');
const settings = {
  mode: quick ? 'quick' : 'full',
  rounds: Number(option('rounds') ?? (quick ? 1 : 3)),
  seconds: Number(option('seconds') ?? (quick ? 2 : 5)),
  warmSeconds: Number(option('warm') ?? (quick ? 1 : 2)),
  records: Number(option('records') ?? (quick ? 50_000 : 1_000_000)),
  queryRequests: quick ? 60 : 300,
  users: 1000,
  connections: 32,
  batchConnections: 8,
  batchSize: 500,
  /** login_throttle: sources the 1,000 accounts are tried from (4,000 account + source lanes). */
  loginSources: 4,
};
const only = option('only')?.split(',');
const keepDb = flag('keep-db');
const cpuProfile = flag('cpu-prof');
/** Node flags for the service process, e.g. --service-node-args="--max-old-space-size=128". */
// Default: the heap cap `npm start` uses, so the RSS figure is the service as shipped.
const serviceNodeArgs = (option('service-node-args') ?? '--max-old-space-size=192')
  .split(' ')
  .filter(Boolean);
/** Extra environment for the service, e.g. --service-env="STRIKES_MAX_PENDING_VIOLATIONS=256". */
const serviceEnv = Object.fromEntries(
  (option('service-env') ?? '')
    .split(/[ ,]/)
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const wanted = (name: string) => !only || only.includes(name);

const BENCH_DIR = path
  .dirname(fileURLToPath(import.meta.url))
  .replace(`${path.sep}dist${path.sep}bench`, `${path.sep}bench`);
const RESULTS_FILE = path.join(BENCH_DIR, 'results.json');
const PROFILE_DIR = path.join(BENCH_DIR, 'profiles');
const SERVICE_INSTANCE = 'bench-service';
/** High enough that no token is ever invalidated by a termination or a block during the run. */
const THRESHOLDS = { terminateAt: 1_000_000, blockAt: 1_000_000 };
/** Records the table-only verification diagnostic covers. */
const TABLE_ONLY_RANGE = 100_000;

const t0 = performance.now();
/** Other work on the machine skews every figure: recorded with the results. */
const loadAtStart = os.loadavg().map((x) => round(x, 2));
const log = (message: string) =>
  console.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${message}`);

// ---------------------------------------------------------------------------------------------
// Figures: A and B alternate over the rounds (A,B then B,A ...), medians are reported.

interface Run {
  rate: number;
  p50?: number;
  p99?: number;
  peakRss?: number;
  unexpected?: number;
  statuses?: Record<string, number>;
}

interface Figure {
  a: number;
  b: number;
  ratio: number;
  target: number;
  unit: string;
  met: boolean;
  a_what: string;
  b_what: string;
  latency_ms?: { a?: { p50: number; p99: number }; b?: { p50: number; p99: number } };
  peak_rss_mib?: number;
  rounds: { a: number; b: number }[];
  /** Further baselines, run in the same rounds after A and B, reported but not the target. */
  extra?: Record<string, { what: string; value: number; a_over: number; rounds: number[] }>;
  notes?: string[];
}

interface Side {
  what: string;
  run: (seconds: number) => Promise<Run>;
}

const results: Record<string, unknown> = {};
/** The raw strike baseline batches as the service does (StrikesService: 4 in flight, 500 each). */
const RAW_STRIKE_BATCHING = { callers: 32, concurrency: 4, maxBatch: 500 };
const figures: Record<string, Figure> = {};
const rssPeaks: Record<string, number> = {};

async function figure(
  name: string,
  spec: {
    unit: string;
    target: number;
    a: Side;
    b: Side;
    warm?: boolean;
    /** Baselines for information, by name: each round runs them after A and B. */
    extra?: Record<string, Side>;
  },
): Promise<void> {
  const extra = Object.entries(spec.extra ?? {});
  log(
    `${name}: A = ${spec.a.what}; B = ${spec.b.what}` +
      extra.map(([n, side]) => `; ${n} = ${side.what}`).join(''),
  );
  if (spec.warm !== false) {
    await spec.a.run(settings.warmSeconds);
    await spec.b.run(settings.warmSeconds);
    for (const [, side] of extra) await side.run(settings.warmSeconds);
  }
  const runs: { a: Run; b: Run }[] = [];
  const extraRuns: Record<string, Run[]> = Object.fromEntries(extra.map(([n]) => [n, []]));
  for (let round = 0; round < settings.rounds; round++) {
    let a: Run;
    let b: Run;
    if (round % 2 === 0) {
      a = await spec.a.run(settings.seconds);
      b = await spec.b.run(settings.seconds);
    } else {
      b = await spec.b.run(settings.seconds);
      a = await spec.a.run(settings.seconds);
    }
    runs.push({ a, b });
    for (const [n, side] of extra) extraRuns[n].push(await side.run(settings.seconds));
    log(
      `  round ${round + 1}: A ${fmt(a.rate)} ${spec.unit}${lat(a)}, B ${fmt(b.rate)} ${spec.unit}${lat(b)}` +
        extra
          .map(([n]) => `, ${n} ${fmt(extraRuns[n][round].rate)}${lat(extraRuns[n][round])}`)
          .join('') +
        (a.unexpected || b.unexpected
          ? ` (unexpected responses: A ${a.unexpected ?? 0} ${JSON.stringify(a.statuses ?? {})}, B ${b.unexpected ?? 0})`
          : ''),
    );
  }
  const a = median(runs.map((r) => r.a.rate));
  const b = median(runs.map((r) => r.b.rate));
  const latencyOf = (side: 'a' | 'b') =>
    runs[0][side].p50 === undefined
      ? undefined
      : {
          p50: round(median(runs.map((r) => r[side].p50!)), 2),
          p99: round(median(runs.map((r) => r[side].p99!)), 2),
        };
  const peaks = runs.flatMap((r) => [r.a.peakRss, r.b.peakRss]).filter((x) => x !== undefined);
  const unexpected = runs.reduce((n, r) => n + (r.a.unexpected ?? 0) + (r.b.unexpected ?? 0), 0);
  const result: Figure = {
    a: round(a, 1),
    b: round(b, 1),
    ratio: round(a / b, 3),
    target: spec.target,
    unit: spec.unit,
    met: a / b >= spec.target,
    a_what: spec.a.what,
    b_what: spec.b.what,
    latency_ms: { a: latencyOf('a'), b: latencyOf('b') },
    rounds: runs.map((r) => ({ a: round(r.a.rate, 1), b: round(r.b.rate, 1) })),
  };
  if (extra.length)
    result.extra = Object.fromEntries(
      extra.map(([n, side]) => {
        const value = median(extraRuns[n].map((r) => r.rate));
        return [
          n,
          {
            what: side.what,
            value: round(value, 1),
            a_over: round(a / value, 3),
            rounds: extraRuns[n].map((r) => round(r.rate, 1)),
          },
        ];
      }),
    );
  if (peaks.length) {
    result.peak_rss_mib = round(Math.max(...(peaks as number[])), 1);
    rssPeaks[name] = result.peak_rss_mib;
  }
  if (unexpected) result.notes = [`${unexpected} responses with an unexpected status or errors`];
  figures[name] = result;
  results[name] = result;
  log(
    `  ${name}: ratio ${result.ratio} (target ≥ ${spec.target}: ${result.met ? 'met' : 'MISSED'})` +
      Object.entries(result.extra ?? {})
        .map(([n, x]) => `; A/${n} ${x.a_over} (${n} ${fmt(x.value)} ${spec.unit})`)
        .join(''),
  );
}

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const lat = (r: Run) => (r.p50 === undefined ? '' : ` (p50 ${r.p50} ms, p99 ${r.p99} ms)`);
const httpRun = (r: LoadResult): Run => r;

/** One GET /me per token (16 at a time), so that StrikeGuard has every user's state cached. */
async function primeSessionCache(base: string, tokens: string[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < tokens.length) {
        const token = tokens[next++];
        const res = await fetch(`${base}/me`, { headers: { authorization: `Bearer ${token}` } });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`GET /me answered ${res.status}`);
      }
    }),
  );
}

/** GET with a bearer token and no time limit; the body parsed as JSON. */
function getJson(url: string, token: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch (error) {
          reject(error as Error);
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// The events the ingestion figures submit.

function ingestEvent(i: number) {
  return {
    type: 'order.paid',
    userId: `customer-${i % HISTORY_USERS}`,
    outcome: 'success',
    threat: 'none',
    entityType: 'order',
    targetId: `order-${i}`,
    ip: '10.0.0.1',
    location: null,
    description: `order ${i} paid by its customer`,
    details: {
      orderId: i,
      kind: `kind-${i % HISTORY_KINDS}`,
      amount: 4200,
      currency: 'EUR',
      items: 2,
    },
  };
}

/** The record the service makes of a submitted event (AuditService: context fills the rest). */
function submittedRecord(event: ReturnType<typeof ingestEvent>, actorId: string): UnchainedRecord {
  return {
    ...event,
    occurredAt: new Date().toISOString(),
    actorId,
    outcome: 'success',
    threat: 'none',
    method: 'POST',
    path: '/audit/events',
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  log(
    `strikeguard bench, ${settings.mode} mode: ${settings.rounds} round(s) of ${settings.seconds} s, ` +
      `${settings.records.toLocaleString('en-US')} records, ${os.cpus().length} cores, Node ${process.version}, ` +
      `load average ${loadAtStart.join(' ')}`,
  );
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strikeguard-bench-'));
  let db: BenchDatabase | null = null;
  let service: BenchService | null = null;
  const pools: pg.Pool[] = [];
  const clients: pg.Client[] = [];
  try {
    db = await createBenchDatabase();
    log(`database ${db.name} on ${new URL(BENCH_DATABASE_URL).host}`);
    await migrate(db.url);
    const pool = new pg.Pool({ connectionString: db.url, max: 4 });
    pools.push(pool);
    const setup = await pool.connect();
    const { users, admin } = await createUsers(setup, settings.users);
    const pgVersion = (await setup.query('SHOW server_version')).rows[0].server_version as string;
    // Off on some servers (this machine's): dead row versions then pile up for the whole run.
    const pgAutovacuum = (await setup.query('SHOW autovacuum')).rows[0].autovacuum as string;
    setup.release();
    const userIds = users.map((u) => u.id);
    const userTokens = users.map((u) => u.token);

    const needHistory = wanted('verify') || wanted('query_latency');
    const records = needHistory ? settings.records : 0;
    const auditDir = path.join(tmp, 'audit');
    let lastProgress = 0;
    const generated = performance.now();
    await generateHistory(
      pool,
      records,
      SERVICE_INSTANCE,
      path.join(auditDir, 'audit.log'),
      (n) => {
        if (n - lastProgress >= 250_000) {
          lastProgress = n;
          log(`  generated ${n.toLocaleString('en-US')} records`);
        }
      },
    );
    if (records)
      log(
        `history: ${records.toLocaleString('en-US')} chained records in the table and the log file ` +
          `(${((performance.now() - generated) / 1000).toFixed(1)} s)`,
      );

    service = await startService(
      tmp,
      {
        DATABASE_URL: db.url,
        JWT_SECRET: BENCH_JWT_SECRET,
        AUDIT_LOG_DIR: auditDir,
        AUDIT_INSTANCE_ID: SERVICE_INSTANCE,
        STRIKES_TERMINATE_AT: String(THRESHOLDS.terminateAt),
        STRIKES_BLOCK_AT: String(THRESHOLDS.blockAt),
        ...serviceEnv,
      },
      [...serviceNodeArgs, ...(cpuProfile ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [])],
    );
    log(`service pid ${service.pid} at ${service.base} (RSS ${round(service.rss().rss, 1)} MiB)`);
    const svc = service;
    const rawClients = await connectClients(db.url, settings.connections);
    clients.push(...rawClients);
    // tree_integration: the service's own integrator adds the history to the Merkle tree in the
    // background from its start; nothing else is measured until it has caught up.
    if (records) {
      const started = performance.now();
      let size = 0;
      while (size < records) {
        await new Promise((r) => setTimeout(r, 100));
        const { rows } = await rawClients[0].query(
          `SELECT size::float8 AS size FROM audit_tree_head`,
        );
        size = rows[0].size;
      }
      const seconds = (performance.now() - started) / 1000;
      results.tree_integration = {
        unit: 'leaves/s',
        value: Math.round(records / seconds),
        records,
        seconds: round(seconds, 2),
        what: 'the service integrating an existing history into the Merkle tree (10,000 records per transaction), measured from its start',
      };
      log(
        `tree_integration: ${records.toLocaleString('en-US')} records integrated in ${round(seconds, 1)} s: ${Math.round(records / seconds).toLocaleString('en-US')} leaves/s`,
      );
    }
    const http =
      (path: string, tokens: string[], expectStatus: number, body?: string, base = svc.base) =>
      (seconds: number) =>
        load({
          base,
          path,
          method: body === undefined ? 'GET' : 'POST',
          body,
          tokens,
          connections: settings.connections,
          seconds,
          expectStatus,
          pid: svc.pid,
        }).then(httpRun);

    // -- verify (at N records: first, before the other figures add to the table) -------------
    if (wanted('verify')) {
      const verifyA = (toId: number) => async (): Promise<Run> => {
        const { result, peakRss } = await withRssPeak(svc.pid, async () => {
          const started = performance.now();
          // node:http, not fetch: fetch gives up on a response that takes over 300 s to start.
          const res = await getJson(`${svc.base}/audit/verify?fromId=1&toId=${toId}`, admin.token);
          const body = res.body as { ok: boolean; checked: number; reason?: string };
          const seconds = (performance.now() - started) / 1000;
          if (res.status !== 200 || !body.ok || body.checked !== toId)
            throw new Error(`GET /audit/verify answered ${res.status} ${JSON.stringify(body)}`);
          return { rate: toId / seconds };
        });
        return { ...result, peakRss };
      };
      const verifyB = (toId: number) => async (): Promise<Run> => {
        const { records: n, seconds } = await bareVerifyLoop(rawClients[0], 1, toId);
        return { rate: n / seconds };
      };
      const warmTo = Math.min(records, 20_000);
      await verifyA(warmTo)();
      await verifyB(warmTo)();
      await figure('verify', {
        unit: 'records/s',
        target: 0.85,
        warm: false,
        a: {
          what: `GET /audit/verify over ${records.toLocaleString('en-US')} records (table + log file)`,
          run: verifyA(records),
        },
        b: {
          what: 'bare loop: SELECT the same rows in chunks of 5,000, SHA-256 of canonical JSON',
          run: verifyB(records),
        },
      });
      results.verify_chunk_query = await chunkQueryDiagnostic(rawClients[0], records);
    }

    // -- query latency at N records ------------------------------------------------------------
    if (wanted('query_latency')) {
      const timeQueries = async (
        label: string,
        query: (i: number) => string,
        count = settings.queryRequests,
      ) => {
        const samples: number[] = [];
        let items = 0;
        for (let i = 0; i < count; i++) {
          const started = performance.now();
          const res = await fetch(`${svc.base}/audit/events?${query(i)}`, {
            headers: { authorization: `Bearer ${admin.token}` },
          });
          const body = (await res.json()) as { items: unknown[] };
          samples.push(performance.now() - started);
          if (res.status !== 200) throw new Error(`GET /audit/events?${query(i)}: ${res.status}`);
          items += body.items.length;
        }
        const stats = {
          p50: round(percentile(samples, 50), 2),
          p95: round(percentile(samples, 95), 2),
          p99: round(percentile(samples, 99), 2),
          mean_items: round(items / samples.length, 1),
        };
        log(
          `  ${label}: p50 ${stats.p50} ms, p95 ${stats.p95} ms, p99 ${stats.p99} ms (${stats.mean_items} items per page)`,
        );
        return stats;
      };
      const pick = (i: number, n: number) => ((i * 2_654_435_761) >>> 0) % n;
      log(
        `query_latency: GET /audit/events at ${records.toLocaleString('en-US')} records, ${settings.queryRequests} sequential requests each`,
      );
      await timeQueries('warm-up', (i) => `userId=customer-${pick(i + 7, HISTORY_USERS)}`);
      results.query_latency = {
        unit: 'ms',
        records,
        requests: settings.queryRequests,
        by_user: await timeQueries(
          'userId=<one of 10,000 users>',
          (i) => `userId=customer-${pick(i, HISTORY_USERS)}`,
        ),
        by_details_key: await timeQueries(
          'details.orderId=<one record>',
          (i) => `details.orderId=${1 + pick(i, Math.max(1, records))}`,
        ),
        by_details_common: await timeQueries(
          'details.kind=<one of 50 values, 2% of records>',
          (i) => `details.kind=kind-${pick(i, HISTORY_KINDS)}`,
        ),
      };
      // Inclusion proofs at the history's size (a tree of `records` leaves): GET /audit/log/proof/inclusion.
      {
        const samples: number[] = [];
        for (let i = 0; i < settings.queryRequests; i++) {
          const id = 1 + pick(i, records);
          const started = performance.now();
          const res = await fetch(
            `${svc.base}/audit/log/proof/inclusion?id=${id}&size=${records}`,
            {
              headers: { authorization: `Bearer ${admin.token}` },
            },
          );
          await res.arrayBuffer();
          samples.push(performance.now() - started);
          if (res.status !== 200) throw new Error(`inclusion proof of ${id}: ${res.status}`);
        }
        const stats = {
          p50: round(percentile(samples, 50), 2),
          p95: round(percentile(samples, 95), 2),
          p99: round(percentile(samples, 99), 2),
        };
        results.proof_latency = { unit: 'ms', records, requests: samples.length, ...stats };
        log(
          `proof_latency: GET /audit/log/proof/inclusion at ${records.toLocaleString('en-US')} records: p50 ${stats.p50} ms, p95 ${stats.p95} ms, p99 ${stats.p99} ms`,
        );
      }
      // The newest page without a filter: few requests (each may sort the whole table).
      (results.query_latency as Record<string, unknown>).unfiltered_10_requests = await timeQueries(
        'no filter (newest page), 10 requests',
        () => 'limit=100',
        10,
      );
    }

    // -- guard overhead ------------------------------------------------------------------------
    if (wanted('guard_overhead')) {
      // Every user's session state in the guard's cache first, as in a steady state: a short
      // warm-up at a few hundred req/s would leave part of the 1,000 users to cache misses.
      await primeSessionCache(svc.base, userTokens);
      await figure('guard_overhead', {
        unit: 'req/s',
        target: 0.9,
        a: {
          what: 'GET /me (JwtAuthGuard + StrikeGuard + RolesGuard), handler reads the user',
          run: http('/me', userTokens, 200),
        },
        b: {
          what: 'GET /bench/jwt-only/me (JwtAuthGuard only), same handler',
          run: http('/bench/jwt-only/me', userTokens, 200),
        },
      });
    }

    // -- peer_nest: the reference service against a plain Nest app doing the same work ---------
    if (wanted('peer_nest')) {
      await primeSessionCache(svc.base, userTokens);
      const peer = await startService(
        tmp,
        { DATABASE_URL: db.url, JWT_SECRET: BENCH_JWT_SECRET },
        [],
        PEER_NEST_MAIN,
      );
      try {
        await figure('peer_nest', {
          unit: 'req/s',
          target: 0.9,
          a: {
            what: 'the reference service: GET /me (JWT, session check, roles, request logging, metrics, audit context, user lookup)',
            run: http('/me', userTokens, 200),
          },
          b: {
            what: 'a plain Nest 12 app: passport-jwt (KeyObject secret) and one prepared pg primary-key lookup',
            run: http('/me', userTokens, 200, undefined, peer.base),
          },
        });
      } finally {
        await peer.stop();
      }
    }

    // -- host_overhead: a samples-shaped host app with strikeguard against the same without -------
    if (wanted('host_overhead')) {
      const url = db.url;
      const host = (on: boolean) =>
        startService(
          path.join(tmp, on ? 'host-on' : 'host-off'),
          {
            DATABASE_URL: url,
            JWT_SECRET: BENCH_JWT_SECRET,
            STRIKEGUARD: on ? 'on' : 'off',
            AUDIT_LOG_DIR: path.join(tmp, 'host-on', 'audit'),
          },
          [],
          HOST_APP_MAIN,
        );
      fs.mkdirSync(path.join(tmp, 'host-on'), { recursive: true });
      fs.mkdirSync(path.join(tmp, 'host-off'), { recursive: true });
      const [on, off] = await Promise.all([host(true), host(false)]);
      try {
        await primeSessionCache(on.base, userTokens);
        await figure('host_overhead', {
          unit: 'req/s',
          target: 0.97,
          a: {
            what: 'a host app (passport-jwt guard + one TypeORM findOneBy) with AuditModule, StrikesModule and StrikeGuard on the route',
            run: http('/me', userTokens, 200, undefined, on.base),
          },
          b: {
            what: 'the same host app without strikeguard',
            run: http('/me', userTokens, 200, undefined, off.base),
          },
        });
      } finally {
        await Promise.all([on.stop(), off.stop()]);
      }
    }

    // -- strike throughput ---------------------------------------------------------------------
    const strikesIn = async (ids: string[]) =>
      Number(
        (
          await pool.query(
            'SELECT coalesce(sum(blocker), 0)::float8 AS n FROM strike_counters WHERE user_id = ANY($1)',
            [ids],
          )
        ).rows[0].n,
      );
    const headId = async () =>
      Number((await pool.query('SELECT last_id::float8 AS id FROM audit_chain_head')).rows[0].id);
    /** How the strikes an instance recorded since `afterId` were grouped into transactions. */
    const strikeBatches = async (instanceId: string, afterId: number) => {
      const { rows } = await pool.query(
        `SELECT count(*)::int AS transactions, coalesce(avg(n), 0)::float8 AS mean, coalesce(max(n), 0)::int AS max
           FROM (SELECT count(*) AS n FROM audit_events
                  WHERE id > $1 AND instance_id = $2 AND type = 'strike.recorded' GROUP BY recorded_at) t`,
        [afterId, instanceId],
      );
      return {
        transactions: rows[0].transactions,
        mean_per_transaction: round(rows[0].mean, 1),
        max: rows[0].max,
      };
    };
    const withBatches = async (name: string, instanceId: string, work: () => Promise<void>) => {
      const before = await headId();
      await work();
      if (figures[name]) {
        const batches = await strikeBatches(instanceId, before);
        (figures[name] as Figure & { strike_batches?: unknown }).strike_batches = batches;
        log(
          `  ${name}: ${batches.transactions} transactions, ${batches.mean_per_transaction} strikes each on average (max ${batches.max})`,
        );
      }
    };
    const strikeRun =
      (ids: string[], tokens: string[]) =>
      async (seconds: number): Promise<Run> => {
        const before = await strikesIn(ids);
        const run = await http('/admin/strikes', tokens, 403)(seconds);
        const recorded = (await strikesIn(ids)) - before;
        if (recorded < run.statuses!['403'] * 0.99)
          throw new Error(
            `${run.statuses!['403']} responses 403 but only ${recorded} strikes recorded`,
          );
        return run;
      };
    if (wanted('strike_throughput')) {
      await withBatches('strike_throughput', SERVICE_INSTANCE, () =>
        figure('strike_throughput', {
          unit: 'strikes/s',
          target: 0.8,
          a: {
            what: `GET /admin/strikes as ${settings.users} plain users → 403 + strike`,
            run: strikeRun(userIds, userTokens),
          },
          b: {
            what: `raw pg batched as the product batches: ${settings.connections} callers, whatever waits in one transaction on one of ${RAW_STRIKE_BATCHING.concurrency} connections: the set-based UPDATE, one chained INSERT of every record; COMMIT`,
            run: (seconds) =>
              rawStrikesBatched(rawClients, userIds, seconds, THRESHOLDS, RAW_STRIKE_BATCHING),
          },
          extra: {
            B1: {
              what: `raw pg, ${settings.connections} connections, one strike per transaction (the earlier baseline)`,
              run: (seconds) => rawStrikes(rawClients, userIds, seconds, THRESHOLDS),
            },
          },
        }),
      );
    }
    if (wanted('strike_throughput_hot')) {
      await withBatches('strike_throughput_hot', SERVICE_INSTANCE, () =>
        figure('strike_throughput_hot', {
          unit: 'strikes/s',
          target: 0.8,
          a: {
            what: 'GET /admin/strikes as one user on every connection → 403 + strike',
            run: strikeRun([userIds[0]], [userTokens[0]]),
          },
          b: {
            what: 'the batched raw pg baseline, every caller on that one user',
            run: (seconds) =>
              rawStrikesBatched(rawClients, [userIds[0]], seconds, THRESHOLDS, RAW_STRIKE_BATCHING),
          },
          extra: {
            B1: {
              what: 'raw pg, one strike per transaction, every connection on that one user',
              run: (seconds) => rawStrikes(rawClients, [userIds[0]], seconds, THRESHOLDS),
            },
          },
        }),
      );
    }

    // -- ingestion -----------------------------------------------------------------------------
    if (wanted('ingest_single')) {
      const body = JSON.stringify(ingestEvent(1));
      await figure('ingest_single', {
        unit: 'req/s',
        target: 0.9,
        a: {
          what: 'POST /audit/events, one event (201 once committed and fsynced)',
          run: http('/audit/events', [admin.token], 201, body),
        },
        b: {
          what: 'POST /bench/noop, same guards and body, handler does nothing',
          run: http('/bench/noop', [admin.token], 201, body),
        },
      });
    }
    if (wanted('ingest_batched')) {
      const events = Array.from({ length: settings.batchSize }, (_, i) => ingestEvent(i));
      const body = JSON.stringify(events);
      const batchClients = rawClients.slice(0, settings.batchConnections);
      await figure('ingest_batched', {
        unit: 'events/s',
        target: 0.6,
        a: {
          what: `POST /audit/events, arrays of ${settings.batchSize}, ${settings.batchConnections} connections`,
          run: async (seconds) => {
            const r = await load({
              base: svc.base,
              path: '/audit/events',
              method: 'POST',
              body,
              tokens: [admin.token],
              connections: settings.batchConnections,
              seconds,
              expectStatus: 201,
              pid: svc.pid,
            });
            return { ...r, rate: r.rate * settings.batchSize };
          },
        },
        b: {
          what: `raw pg, ${settings.batchConnections} connections: the same ${settings.batchSize} rows chained (head lock, hashes, one INSERT … unnest, head update) per transaction`,
          run: (seconds) =>
            rawIngest(batchClients, () => events.map((e) => submittedRecord(e, admin.id)), seconds),
        },
      });
    }

    // -- memory at 1,024 connections of violations -----------------------------------------------
    if (wanted('memory_1024')) {
      const connections = 1024;
      const seconds = Math.max(10, settings.seconds);
      log(
        `memory_1024: GET /admin/strikes as ${settings.users} plain users, ${connections} connections, ${seconds} s`,
      );
      const before = await strikesIn(userIds);
      const run = await load({
        base: svc.base,
        path: '/admin/strikes',
        tokens: userTokens,
        connections,
        seconds,
        expectStatus: 403,
        pid: svc.pid,
      });
      const recorded = (await strikesIn(userIds)) - before;
      const charged = run.statuses['403'] ?? 0;
      const overloaded = run.statuses['503'] ?? 0;
      // A 403 is answered only once its strike is committed: fewer strikes than 403s is a loss.
      if (recorded < charged)
        throw new Error(`${charged} responses 403 but only ${recorded} strikes recorded`);
      rssPeaks.memory_1024 = run.peakRss;
      results.memory_1024 = {
        unit: 'MiB',
        target: 256,
        connections,
        seconds,
        peak_rss_mib: run.peakRss,
        met: run.peakRss <= 256,
        statuses: run.statuses,
        // Connection errors and timeouts (autocannon counts them apart from the statuses).
        errors: run.unexpected - (Object.values(run.statuses).reduce((a, b) => a + b, 0) - charged),
        strikes_recorded: recorded,
        strikes_per_second: round(recorded / seconds, 1),
        p50_ms: run.p50,
        p99_ms: run.p99,
      };
      log(
        `  memory_1024: peak RSS ${run.peakRss} MiB (target ≤ 256), ${charged} × 403 (${recorded} strikes recorded), ` +
          `${overloaded} × 503, statuses ${JSON.stringify(run.statuses)}, p50 ${run.p50} ms, p99 ${run.p99} ms`,
      );
    }

    const hwm = service.rss().hwm;
    await service.stop();
    service = null;
    // At 32 connections (issue 13: ≤ 160 MiB); memory_1024 has its own, at 1,024.
    const peakAt32 = Math.max(
      0,
      ...Object.entries(rssPeaks)
        .filter(([name]) => name !== 'memory_1024')
        .map(([, mib]) => mib),
    );
    results.peak_rss = {
      unit: 'MiB',
      target: 160,
      max_under_load: round(peakAt32, 1),
      met: peakAt32 <= 160,
      vm_hwm: round(hwm, 1),
      by_figure: rssPeaks,
    };
    log(
      `service peak RSS under load ${round(Math.max(0, ...Object.values(rssPeaks)), 1)} MiB (VmHWM ${round(hwm, 1)} MiB)`,
    );

    // -- in-process: strikes vs rate-limiter-flexible; table-only verification -------------------
    if (wanted('strike_vs_peer') || (wanted('verify') && records > 0)) {
      const inProcess = await startInProcessStrikes(
        db.url,
        path.join(tmp, 'in-process-audit'),
        THRESHOLDS,
      );
      const peer = await startPeer(db.url);
      try {
        if (wanted('strike_vs_peer')) {
          let next = 0;
          let nextPeer = 0;
          await withBatches('strike_vs_peer', IN_PROCESS_INSTANCE, () =>
            figure('strike_vs_peer', {
              unit: 'ops/s',
              target: 1.0,
              a: {
                what: `StrikesService.recordViolation in-process, ${settings.connections} callers over ${settings.users} users (audit record included)`,
                run: (seconds) =>
                  timedWorkers(settings.connections, seconds, async () => {
                    await inProcess.strikes.recordViolation(
                      userIds[next++ % userIds.length],
                      1,
                      'bench',
                    );
                    return 1;
                  }),
              },
              b: {
                what: `rate-limiter-flexible RateLimiterPostgres.consume(), same callers and keys (counter only)`,
                run: (seconds) =>
                  timedWorkers(settings.connections, seconds, async () => {
                    await peer.consume(userIds[nextPeer++ % userIds.length]);
                    return 1;
                  }),
              },
            }),
          );
        }
        if (wanted('verify') && records > 0) {
          // Diagnostic: the verifier without the log file cross-check, on a range small enough
          // that its chunk queries' sorting (see verify_chunk_query) stays cheap.
          const range = Math.min(records, TABLE_ONLY_RANGE);
          const verifier = new AuditVerifier(inProcess.dataSource, 5000);
          const started = performance.now();
          const verdict = await verifier.verify({ fromId: 1, toId: range }, null);
          const tableOnly = range / ((performance.now() - started) / 1000);
          if (!verdict.ok) throw new Error(`in-process verify failed: ${JSON.stringify(verdict)}`);
          const bare = await bareVerifyLoop(rawClients[0], 1, range);
          results.verify_table_only = {
            unit: 'records/s',
            records: range,
            value: round(tableOnly, 1),
            bare_loop: round(bare.records / bare.seconds, 1),
            what: 'AuditVerifier.verify in-process without the log-file cross-check, and the bare loop, over the first records (one run each)',
          };
          log(
            `verify_table_only: ${fmt(tableOnly)} records/s over ${range.toLocaleString('en-US')} records ` +
              `(in-process AuditVerifier, no file cross-check; bare loop ${fmt(bare.records / bare.seconds)})`,
          );
        }
      } finally {
        await peer.close();
        await inProcess.close();
      }
    }

    // -- cli_start: the security team's CLI, from process start to its answer --------------------
    if (wanted('cli_start')) await cliStartFigure(db.url);

    // -- in-process: batched ingestion with the transparency log vs without ------------------------
    if (wanted('ingest_batched_tree')) await treeIngestFigure(db.url, tmp);

    // -- in-process: login admissions vs rate-limiter-flexible's login recipe ---------------------
    if (wanted('login_throttle')) await loginThrottleFigure(db.url, path.join(tmp, 'login-audit'));

    results.meta = {
      mode: settings.mode,
      rounds: settings.rounds,
      seconds_per_run: settings.seconds,
      records,
      users: settings.users,
      connections: settings.connections,
      batch_connections: settings.batchConnections,
      login_sources: settings.loginSources,
      node: process.version,
      postgres: pgVersion,
      postgres_autovacuum: pgAutovacuum,
      cpus: os.cpus().length,
      date: new Date().toISOString(),
      load_average_at_start: loadAtStart,
      load_average_at_end: os.loadavg().map((x) => round(x, 2)),
      total_seconds: round((performance.now() - t0) / 1000, 1),
    };
  } finally {
    await service?.stop().catch(() => undefined);
    for (const c of clients) await c.end().catch(() => undefined);
    for (const p of pools) await p.end().catch(() => undefined);
    if (db && !keepDb)
      await db.drop().catch((e: Error) => log(`could not drop ${db!.name}: ${e.message}`));
    if (db && keepDb) log(`kept database ${db.name}`);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  printTable();
  fs.writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n');
  log(`wrote ${path.relative(process.cwd(), RESULTS_FILE)}`);
  if (cpuProfile)
    log(`CPU profiles of the service in ${path.relative(process.cwd(), PROFILE_DIR)}`);
}

/**
 * cli_start (issue 13: the CLI's audit commands start without booting Nest, ≤ 300 ms to first
 * output): `strikeguard audit tail -n 1` against the bench database, a new process each time, wall
 * time from spawn to exit (its line printed; none with --records=0), median and max of 10 after one
 * warm-up.
 */
async function cliStartFigure(url: string): Promise<void> {
  const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const once = () =>
    new Promise<number>((resolve, reject) => {
      const started = performance.now();
      const child = spawn(process.execPath, [cli, 'audit', 'tail', '-n', '1'], {
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: url },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.once('exit', (code) => {
        if (code !== 0 || out.split('\n').filter(Boolean).length > 1)
          reject(new Error(`audit tail -n 1 exited ${code}: ${err || out}`));
        else resolve(performance.now() - started);
      });
    });
  await once();
  const times: number[] = [];
  for (let i = 0; i < 10; i++) times.push(await once());
  results.cli_start = {
    unit: 'ms',
    value: round(median(times), 1),
    max: round(Math.max(...times), 1),
    target: 300,
    met: median(times) <= 300,
    what: '`strikeguard audit tail -n 1` with DATABASE_URL: a new process, spawn to exit, median of 10',
  };
  log(
    `cli_start: audit tail -n 1 in ${round(median(times), 1)} ms (median of 10, max ${round(Math.max(...times), 1)} ms; target ≤ 300 ms)`,
  );
}

/**
 * ingest_batched_tree: AuditService.recordMany() of 500 events from the batch connections'
 * number of callers, in-process, with TransparencyLogModule integrating the tree and signing
 * checkpoints on the service's schedule (A) and without it (B). Each run starts its own
 * application and closes it after, so the other side's background work never overlaps a run;
 * A's integration of what it appended is part of A's cost.
 */
async function treeIngestFigure(url: string, tmp: string): Promise<void> {
  const signingKey = generateNoteKey(TREE_ORIGIN).signerKey;
  const events = Array.from({ length: settings.batchSize }, (_, i) => ({
    type: 'bench.tree',
    userId: `customer-${i % 100}`,
    details: { i },
  }));
  const logDir = path.join(tmp, 'tree-audit');
  const side =
    (withTree: boolean) =>
    async (seconds: number): Promise<Run> => {
      // One log directory for every run, as one service instance restarted: a fresh directory
      // would make each start copy every earlier run's records into its new file (catch-up), and
      // the disk would still be writing that back during the timed run.
      const app = await startInProcessAudit(url, logDir, withTree ? signingKey : null);
      try {
        await app.catchUp(); // what the other side appended is not this run's work
        // Both sides start from a quiet database: the catch-up's writes (and the other side's)
        // are flushed by PostgreSQL's background writers before the timed run, not during it.
        await new Promise((r) => setTimeout(r, 1000));
        return await timedWorkers(settings.batchConnections, seconds, async () => {
          await app.audit.recordMany(events);
          return settings.batchSize;
        });
      } finally {
        await app.close();
      }
    };
  await figure('ingest_batched_tree', {
    unit: 'events/s',
    target: 0.9,
    a: {
      what: `AuditService.recordMany(${settings.batchSize} events) in-process from ${settings.batchConnections} callers, TransparencyLogModule integrating and signing (200 ms / 10 s)`,
      run: side(true),
    },
    b: { what: 'the same without TransparencyLogModule', run: side(false) },
  });
}

/**
 * login_throttle: failed-login admissions in-process (`LoginThrottleService.admitAttempt`, one
 * `strikeguard_login_admit` call: 4 lanes locked, checked and pre-charged) against
 * rate-limiter-flexible's login recipe on the same 4 keys (4 consume(), awaited together). Every
 * attempt is admitted: the limits are at their maxima (LOGIN_LIMITS). Attempt n tries account
 * n mod 1,000 from source (n + ⌊n / 1,000⌋) mod 4, so each account is tried from every source
 * and the 32 callers spread over the 4 sources. Each run checks that every admission (and every
 * consume()) was charged to its 4 lanes. failed() is not called: it only settles (records which
 * user the account is, and the `auth.login_failed` audit event); admissions are what is measured.
 */
async function loginThrottleFigure(url: string, logDir: string): Promise<void> {
  const accounts = settings.users;
  const sources = Array.from({ length: settings.loginSources }, (_, i) => `198.51.100.${i + 1}`);
  const keys = (n: number) => ({
    account: `bench-login-${n % accounts}`,
    source: sources[(n + Math.floor(n / accounts)) % sources.length],
  });
  const inProcess = await startInProcessLogin(url, logDir);
  const peer = await startLoginPeer(url);
  const check = new pg.Client({ connectionString: url });
  await check.connect();
  /** Sum of the charges of every lane (each admission or consume() adds 1 to its lane's row). */
  const charges = async (tables: string[]) => {
    let sum = 0;
    for (const t of tables) {
      const column = t === 'login_throttle' ? 'failures' : 'points';
      const { rows } = await check.query(`SELECT coalesce(sum(${column}), 0)::int8 AS n FROM ${t}`);
      sum += Number(rows[0].n);
    }
    return sum;
  };
  const charged =
    (tables: string[], lanes: number, op: (n: number) => Promise<unknown>) =>
    async (seconds: number): Promise<Run> => {
      const before = await charges(tables);
      let next = 0;
      const run = await timedWorkers(settings.connections, seconds, async () => {
        await op(next++);
        return 1;
      });
      const after = await charges(tables);
      if (after - before !== run.count * lanes)
        throw new Error(
          `${run.count} attempts should have charged ${run.count * lanes} to their lanes, ${after - before} were`,
        );
      return run;
    };
  const peerTables = [
    'login_fail_account',
    'login_fail_consecutive_account_source',
    'login_fail_consecutive_account',
    'login_fail_source_per_day',
  ];
  const callers = `${settings.connections} callers, ${accounts.toLocaleString('en-US')} accounts × ${sources.length} sources`;
  try {
    await figure('login_throttle', {
      unit: 'attempts/s',
      target: 1.0,
      a: {
        what: `LoginThrottleService.admitAttempt({account, source}) in-process, ${callers}: one strikeguard_login_admit (4 lanes locked, checked, pre-charged), every attempt admitted, not settled`,
        run: charged(['login_throttle'], 4, async (n) => {
          const admission = await inProcess.login.admitAttempt(keys(n));
          if (admission.trusted) throw new Error('an attempt without a device token was trusted');
        }),
      },
      b: {
        what: `rate-limiter-flexible login recipe, same callers and keys: 4 RateLimiterPostgres.consume() (account, account + source, account consecutive, source per day) under Promise.all, pool of ${POOL_SIZE}`,
        run: charged(peerTables, 4, (n) => {
          const k = keys(n);
          return peer.attempt(k.account, k.source);
        }),
      },
      extra: {
        B1: {
          what: 'one consume() per attempt (the account + source limiter only)',
          run: charged([peerTables[1]], 1, (n) => {
            const k = keys(n);
            return peer.single(k.account, k.source);
          }),
        },
      },
    });
    const { rows } = await check.query(
      `SELECT count(*)::int AS lanes, count(*) FILTER (WHERE blocked_until IS NOT NULL)::int AS blocked
         FROM login_throttle`,
    );
    log(`  login_throttle: ${rows[0].lanes} lanes in login_throttle, ${rows[0].blocked} blocked`);
    if (rows[0].blocked) throw new Error('a login lane was blocked during the run: limits too low');
  } finally {
    await check.end();
    await peer.close();
    await inProcess.close();
  }
}

/**
 * Time of one chunk query of the verifier (5,000 rows after `afterId`), as AuditVerifier sends
 * it (`ORDER BY id`, which resolves to RECORD_SELECT's output column `id::float8`) and ordered by
 * the table column instead, with the plan PostgreSQL chose for each.
 */
async function chunkQueryDiagnostic(client: pg.ClientBase, records: number) {
  const time = async (orderBy: string, afterId: number) => {
    const sql = `SELECT ${RECORD_SELECT}, instance_id AS "instanceId" FROM audit_events
       WHERE id > $1 AND id <= $2 ORDER BY ${orderBy} LIMIT $3`;
    const params = [afterId, records, 5000];
    const { rows } = await client.query(`EXPLAIN ${sql}`, params);
    const plan = rows.map((r: Record<string, string>) => r['QUERY PLAN']);
    const started = performance.now();
    await client.query(sql, params);
    return {
      ms: round(performance.now() - started, 1),
      plan: plan.filter((l: string) => /Sort Key|Scan/.test(l)).map((l: string) => l.trim()),
    };
  };
  const result = {
    what: 'one 5,000-row chunk query of the verifier at the start of the range, as sent and with ORDER BY audit_events.id',
    records,
    as_sent: await time('id', 0),
    by_column: await time('audit_events.id', 0),
  };
  log(
    `verify_chunk_query: first chunk ${result.as_sent.ms} ms as sent (${result.as_sent.plan.join('; ')}), ` +
      `${result.by_column.ms} ms ordered by the column (${result.by_column.plan.join('; ')})`,
  );
  return result;
}

function printTable(): void {
  const rows = [['figure', 'A', 'B', 'unit', 'A/B', 'target', '', 'A p50/p99 ms', 'B p50/p99 ms']];
  for (const [name, f] of Object.entries(figures)) {
    const l = (x?: { p50: number; p99: number }) => (x ? `${x.p50} / ${x.p99}` : '');
    rows.push([
      name,
      fmt(f.a),
      fmt(f.b),
      f.unit,
      f.ratio.toFixed(3),
      `≥ ${f.target.toFixed(2)}`,
      f.met ? 'met' : 'MISSED',
      l(f.latency_ms?.a),
      l(f.latency_ms?.b),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  console.log('');
  for (const [i, r] of rows.entries()) {
    console.log(
      r
        .map((c, j) =>
          j === 0 || j === 3 || j === 6 ? c.padEnd(widths[j]) : c.padStart(widths[j]),
        )
        .join('  '),
    );
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  const rss = results.peak_rss as
    { max_under_load: number; vm_hwm: number; met: boolean } | undefined;
  if (rss)
    console.log(
      `\nservice peak RSS under load at 32 connections: ${rss.max_under_load} MiB (target ≤ 160: ${rss.met ? 'met' : 'MISSED'}; VmHWM ${rss.vm_hwm} MiB)`,
    );
  const q = results.query_latency as
    (Record<string, { p50: number; p95: number; p99: number }> & { records: number }) | undefined;
  if (q)
    console.log(
      `GET /audit/events p95 at ${q.records.toLocaleString('en-US')} records: by userId ${q.by_user.p95} ms, ` +
        `by details.orderId ${q.by_details_key.p95} ms, by details.kind (2% of records) ${q.by_details_common.p95} ms`,
    );
  for (const [name, f] of Object.entries(figures))
    for (const [n, x] of Object.entries(f.extra ?? {}))
      console.log(`${name} ${n} (${x.what}): ${fmt(x.value)} ${f.unit}, A/${n} ${x.a_over}`);
  const t = results.tree_integration as { value: number; records: number } | undefined;
  if (t) console.log(`tree_integration: ${fmt(t.value)} leaves/s over ${fmt(t.records)} records`);
  const pl = results.proof_latency as { p95: number; records: number } | undefined;
  if (pl) console.log(`inclusion proof p95 at ${fmt(pl.records)} records: ${pl.p95} ms`);
  const v = results.verify_table_only as { value: number } | undefined;
  if (v) console.log(`in-process verification without the log file: ${fmt(v.value)} records/s`);
  console.log('');
}

main().catch((error: unknown) => {
  console.error('bench failed:', error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
