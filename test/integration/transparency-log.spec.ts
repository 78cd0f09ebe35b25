import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import pg from 'pg';
import {
  AuditService,
  CHECKPOINT_FILE,
  ForkGuardError,
  generateNoteKey,
  leafHash,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  rootOf,
  TransparencyLogModule,
  type TransparencyLogModuleOptions,
  TransparencyLogService,
  verifyConsistency,
  verifyInclusion,
} from '../../src/index.js';
import {
  createTestDatabase,
  describeWithPostgres,
  type TestDatabase,
} from '../support/postgres.js';
import { auditImports } from '../support/strikeguard-imports.js';
import { rewriteHistory } from '../support/rewrite-history.js';
import { STORED_TREE_LEVEL } from '../../src/transparency/tree-store.js';

const ORIGIN = 'strikeguard.test/audit';
const b64 = (s: string) => Buffer.from(s, 'base64');

describeWithPostgres('transparency log over the audit chain (issue 11)', () => {
  let db: TestDatabase;
  let dir: string;
  let app: INestApplicationContext;
  let log: TransparencyLogService;
  let audit: AuditService;
  let sql: pg.Client;
  const key = generateNoteKey(ORIGIN);
  const vkey = parseVerifierKey(key.verifierKey);

  const start = async (options: Partial<TransparencyLogModuleOptions> = {}) => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ...auditImports(db.url, dir),
        TransparencyLogModule.forRoot({
          origin: ORIGIN,
          signingKey: key.signerKey,
          // The tests drive integration and signing themselves.
          integrateIntervalMs: 60_000,
          checkpointIntervalMs: 60_000,
          ...options,
        }),
      ],
    }).compile();
    const started = moduleRef.createNestApplication({ logger: false });
    await started.init();
    return started;
  };
  const record = (n: number, from = 0) =>
    audit.recordMany(
      Array.from({ length: n }, (_, i) => ({
        type: 'test.event',
        userId: `u${(from + i) % 17}`,
        details: { n: from + i },
      })),
    );
  const hashes = async () =>
    (await sql.query<{ hash: string }>(`SELECT hash FROM audit_events ORDER BY id`)).rows.map((r) =>
      leafHash(Buffer.from(r.hash, 'hex')),
    );

  beforeAll(async () => {
    db = await createTestDatabase('sg_tlog');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-tlog-'));
    app = await start();
    log = app.get(TransparencyLogService);
    audit = app.get(AuditService);
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  });

  afterAll(async () => {
    await sql?.end();
    await app?.close();
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('signs the empty tree, then a checkpoint of 1,000 records whose root is the RFC 9162 root of their hashes', async () => {
    const empty = await log.checkpoint(true);
    expect(empty).toMatchObject({ size: 0 });
    for (let i = 0; i < 10; i++) await record(100, i * 100);
    const head = await log.integrate();
    expect(head.size).toBe(1000);
    expect(head.root).toEqual(rootOf(await hashes()));
    // Only subtrees of 16 records and up are stored: 62 + 31 + 15 + 7 + 3 + 1 rows for 1,000.
    const { rows: levels } = await sql.query<{ level: number; n: string }>(
      `SELECT level, count(*)::text AS n FROM audit_tree_nodes GROUP BY level ORDER BY level`,
    );
    expect(levels).toEqual(
      [62, 31, 15, 7, 3, 1].map((n, i) => ({ level: i + STORED_TREE_LEVEL, n: String(n) })),
    );
    const signed = await log.checkpoint(true);
    const body = openNote(signed!.note, [vkey]).text;
    expect(parseCheckpoint(body)).toEqual({
      origin: ORIGIN,
      size: 1000,
      root: rootOf(await hashes()),
      extensions: [],
    });
    // The same note is in the file outside the database, and served.
    expect(fs.readFileSync(path.join(dir, CHECKPOINT_FILE), 'utf8')).toBe(signed!.note);
    expect((await log.latestNote())!.note).toBe(signed!.note);
  });

  it('proves every one of the 1,000 records included, reading O(log n) nodes; a proof fails for any other leaf', async () => {
    const leaves = await hashes();
    const root = rootOf(leaves);
    for (let id = 1; id <= 1000; id++) {
      const p = await log.inclusionProof(id);
      expect(p.index).toBe(id - 1);
      expect(b64(p.leafHash)).toEqual(leaves[id - 1]);
      expect(p.proof.length).toBeLessThanOrEqual(10);
      verifyInclusion(p.index, p.size, b64(p.leafHash), p.proof.map(b64), root);
      if (id % 97 === 0)
        expect(() =>
          verifyInclusion(p.index, p.size, leaves[id % 1000], p.proof.map(b64), root),
        ).toThrow();
    }
  });

  it('proves consistency between every pair of a series of checkpoints', async () => {
    const sizes = [1000];
    for (const n of [1, 2, 5, 24, 100, 357]) {
      await record(n, 5000 + sizes[sizes.length - 1]);
      await log.integrate();
      sizes.push((await log.checkpoint(true))!.size);
    }
    const leaves = await hashes();
    for (const from of sizes)
      for (const to of sizes.filter((s) => s >= from)) {
        const p = await log.consistencyProof(from, to);
        verifyConsistency(
          from,
          to,
          p.proof.map(b64),
          rootOf(leaves.slice(0, from)),
          rootOf(leaves.slice(0, to)),
        );
      }
    // An inclusion proof against an earlier checkpoint too.
    const p = await log.inclusionProof(3, 1001);
    verifyInclusion(2, 1001, leaves[2], p.proof.map(b64), rootOf(leaves.slice(0, 1001)));
  });

  it('refuses proofs outside the tree with a ProofRangeError', async () => {
    const size = (await log.status()).treeSize;
    await expect(log.inclusionProof(0)).rejects.toThrow(/not in the tree/);
    await expect(log.inclusionProof(size + 1, size)).rejects.toThrow(/not in the tree/);
    await expect(log.inclusionProof(1, size + 1)).rejects.toThrow(/holds/);
    await expect(log.consistencyProof(5, 4)).rejects.toThrow(/1 ≤ from ≤ to/);
  });

  it('a record altered after integration (nothing else recomputed): the signed root still commits to the original, its proof fails, and under the unstored right edge the signer refuses', async () => {
    const alter = async (id: number, to: string) => {
      await sql.query('BEGIN');
      await sql.query(`SET session_replication_role = replica`); // the triggers, off
      await sql.query(`UPDATE audit_events SET hash = $1 WHERE id = $2`, [to, id]);
      await sql.query('COMMIT');
    };
    const hashOf = async (id: number) =>
      (await sql.query<{ hash: string }>(`SELECT hash FROM audit_events WHERE id = $1`, [id]))
        .rows[0].hash;
    const { treeSize } = await log.status();
    expect(treeSize % 16).not.toBe(0); // the last records are under no stored node
    const original = await log.checkpoint(true);
    // Record 7 is inside a stored subtree of 1,024 records.
    const seventh = await hashOf(7);
    await alter(7, '0'.repeat(64));
    try {
      const signed = await log.checkpoint(true);
      expect(signed!.root).toEqual(original!.root);
      const p = await log.inclusionProof(7, treeSize);
      expect(() =>
        verifyInclusion(6, treeSize, b64(p.leafHash), p.proof.map(b64), signed!.root),
      ).toThrow();
    } finally {
      await alter(7, seventh);
    }
    // The last record is hashed from audit_events whenever the tree's root is recomputed.
    const last = await hashOf(treeSize);
    await alter(treeSize, '0'.repeat(64));
    try {
      await expect(log.checkpoint(true)).rejects.toThrow(
        /is not the root of the records' hashes and audit_tree_nodes/,
      );
      // A hash that is not one: the node it is under cannot be hashed, and the error says where.
      await alter(treeSize, 'not a hash');
      await expect(log.checkpoint(true)).rejects.toThrow(
        new RegExp(
          `audit_events lacks a record \\(or a record's hash\\) among ids \\d+\\.\\.${treeSize}`,
        ),
      );
    } finally {
      await alter(treeSize, last);
    }
    expect(await log.checkpoint(true)).toMatchObject({ size: treeSize, root: original!.root });
  });

  it("integrates this process's records from what it committed and another instance's from the table; a record altered before integration stops the signer", async () => {
    // Another instance on the same database: its records are not in this process's memory.
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-tlog-other-'));
    const other = await Test.createTestingModule({
      imports: auditImports(db.url, otherDir),
    })
      .compile()
      .then((m) => m.createNestApplication({ logger: false }).init());
    try {
      const otherAudit = other.get(AuditService);
      expect(otherAudit.instanceId).not.toBe(audit.instanceId);
      await log.integrate();
      for (let i = 0; i < 5; i++) {
        await record(3 + i);
        await otherAudit.recordMany([{ type: 'other.event', userId: `o${i}` }]);
        await record(1);
      }
      const head = await log.integrate();
      expect(head.root).toEqual(rootOf(await hashes()));
    } finally {
      await other.close();
      fs.rmSync(otherDir, { recursive: true, force: true });
    }
    await expect(log.checkpoint(true)).resolves.toMatchObject({ size: (await hashes()).length });
    // Committed here, then altered in the table before the integrator ran: the tree commits to
    // what was committed, and the signer, recomputing the right edge from the table, refuses.
    const [committed] = await audit.recordMany([{ type: 'test.event', userId: 'late' }]);
    await sql.query('BEGIN');
    await sql.query(`SET session_replication_role = replica`);
    await sql.query(`UPDATE audit_events SET hash = $1 WHERE id = $2`, [
      'f'.repeat(64),
      committed.id,
    ]);
    await sql.query('COMMIT');
    try {
      const head = await log.integrate();
      expect(head.size).toBe(committed.id);
      expect(head.root).not.toEqual(rootOf(await hashes()));
      await expect(log.checkpoint(true)).rejects.toThrow(
        /is not the root of the records' hashes and audit_tree_nodes/,
      );
    } finally {
      await sql.query('BEGIN');
      await sql.query(`SET session_replication_role = replica`);
      await sql.query(`UPDATE audit_events SET hash = $1 WHERE id = $2`, [
        committed.hash,
        committed.id,
      ]);
      await sql.query('COMMIT');
    }
    await expect(log.checkpoint(true)).resolves.toMatchObject({ size: committed.id });
  });

  it('the fork guard refuses to sign after record 10 is rewritten with every later hash, the head and the tree tables recomputed', async () => {
    const before = await log.status();
    const published = fs.readFileSync(path.join(dir, CHECKPOINT_FILE), 'utf8');
    await rewriteHistory(sql, 10);
    await expect(log.checkpoint(true)).rejects.toThrow(ForkGuardError);
    await expect(log.checkpoint(true)).rejects.toThrow(
      /not an extension of the published checkpoint/,
    );
    expect((await log.status()).signingError).toMatch(/history before it was rewritten/);
    // Nothing was signed or written.
    expect(fs.readFileSync(path.join(dir, CHECKPOINT_FILE), 'utf8')).toBe(published);
    expect((await log.status()).checkpoint).toEqual(before.checkpoint);
  });
});

describeWithPostgres('checkpoints keep pace with batched ingestion (issue 11)', () => {
  let db: TestDatabase;
  let dir: string;
  let app: INestApplicationContext;
  const key = generateNoteKey(ORIGIN);

  beforeAll(async () => {
    db = await createTestDatabase('sg_tlog_pace');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-tlog-pace-'));
    const moduleRef = await Test.createTestingModule({
      imports: [
        ...auditImports(db.url, dir),
        // The schedule a busy service would run: integrate every 200 ms, sign every 250 ms.
        TransparencyLogModule.forRoot({
          origin: ORIGIN,
          signingKey: key.signerKey,
          checkpointIntervalMs: 250,
        }),
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('20,000 events in batches of 500 from 4 writers: checkpoints follow while they arrive and cover them all within 5 s', async () => {
    const audit = app.get(AuditService);
    const log = app.get(TransparencyLogService);
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    try {
      const started = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < 40) {
            const batch = next++;
            await audit.recordMany(
              Array.from({ length: 500 }, (_, i) => ({
                type: 'pace.test',
                userId: `u${i % 50}`,
                details: { batch, i },
              })),
            );
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const during = await sql.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM audit_checkpoints`,
      );
      console.info(
        `ingested 20,000 events in ${seconds.toFixed(2)} s (${Math.round(20_000 / seconds)}/s); ${during.rows[0].n} checkpoints meanwhile`,
      );
      const chain = Number(
        (await sql.query<{ n: string }>(`SELECT last_id::text AS n FROM audit_chain_head`)).rows[0]
          .n,
      );
      let covered = 0;
      for (let i = 0; i < 50 && covered < chain; i++) {
        await new Promise((r) => setTimeout(r, 100));
        covered = (await log.status()).checkpoint?.size ?? 0;
      }
      expect(covered).toBe(chain);
      // Checkpoints were signed while the events arrived, not only at the end.
      expect(Number(during.rows[0].n)).toBeGreaterThanOrEqual(2);
      const { rows } = await sql.query<{ size: string }>(
        `SELECT size::text FROM audit_checkpoints ORDER BY size`,
      );
      expect(rows.length).toBeGreaterThanOrEqual(3);
    } finally {
      await sql.end();
    }
  });
});
