import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import pg from 'pg';
import { register } from 'prom-client';
import {
  AuditService,
  CHECKPOINT_FILE,
  CHECKPOINTS_FILE,
  generateNoteKey,
  NOTE_KEY_TYPE,
  parseNote,
  parseVerifierKey,
  TransparencyLogModule,
  TransparencyLogService,
  verifyCosignature,
} from '../../src/index.js';
import { CLI, cli } from '../support/cli.js';
import {
  createTestDatabase,
  describeWithPostgres,
  type TestDatabase,
} from '../support/postgres.js';
import { rewriteHistory } from '../support/rewrite-history.js';
import { auditImports } from '../support/strikeguard-imports.js';

const ORIGIN = 'witnessed.test/audit';

/** The shipped witness as its own process (`strikeguard witness serve`), on another port. */
async function startWitness(keyFile: string, logVkey: string, state: string) {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'witness',
      'serve',
      '--key',
      `@${keyFile}`,
      '--log',
      `${ORIGIN}=${logVkey}`,
      '--state',
      state,
      '--listen',
      '127.0.0.1:0',
    ],
    { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('listening'));
      if (line) resolve(JSON.parse(line).listening);
    });
    child.once('exit', (code) => reject(new Error(`witness exited ${code}: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

describeWithPostgres(
  'checkpoints cosigned by the shipped witness on another port (issue 11)',
  () => {
    let db: TestDatabase;
    let dir: string;
    let app: INestApplicationContext;
    let log: TransparencyLogService;
    let audit: AuditService;
    let sql: pg.Client;
    let witness: Awaited<ReturnType<typeof startWitness>>;
    const logKey = generateNoteKey(ORIGIN);
    const witnessKey = generateNoteKey('witness.test/w1', NOTE_KEY_TYPE.cosignature);
    const witnessVerifier = parseVerifierKey(witnessKey.verifierKey, [NOTE_KEY_TYPE.cosignature]);
    let keyFile: string;
    let stateFile: string;
    let auditorState: string;

    const record = (n: number) =>
      audit.recordMany(
        Array.from({ length: n }, (_, i) => ({ type: 'test.event', userId: `u${i}` })),
      );
    const checkpointVerify = () =>
      cli(
        [
          'audit',
          'checkpoint',
          'verify',
          '--vkey',
          logKey.verifierKey,
          '--witness',
          witnessKey.verifierKey,
          '--quorum',
          '1',
          '--state',
          auditorState,
        ],
        { DATABASE_URL: db.url },
      );

    beforeAll(async () => {
      db = await createTestDatabase('sg_tlog_witness');
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-witness-'));
      keyFile = path.join(dir, 'witness.key');
      fs.writeFileSync(keyFile, witnessKey.signerKey, { mode: 0o600 });
      stateFile = path.join(dir, 'witness-state.json');
      auditorState = path.join(dir, 'auditor-checkpoint');
      witness = await startWitness(keyFile, logKey.verifierKey, stateFile);
      const moduleRef = await Test.createTestingModule({
        imports: [
          ...auditImports(db.url, path.join(dir, 'audit')),
          TransparencyLogModule.forRoot({
            origin: ORIGIN,
            signingKey: logKey.signerKey,
            integrateIntervalMs: 60_000,
            checkpointIntervalMs: 60_000,
            witnesses: [{ url: witness.url, vkey: witnessKey.verifierKey }],
          }),
        ],
      }).compile();
      app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      log = app.get(TransparencyLogService);
      audit = app.get(AuditService);
      sql = new pg.Client({ connectionString: db.url });
      await sql.connect();
    });

    afterAll(async () => {
      await sql?.end();
      await app?.close();
      if (witness) await stop(witness.child);
      await db?.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('every checkpoint carries a cosignature of the witness that verifies with its key', async () => {
      for (const n of [5, 20, 1, 64]) {
        await record(n);
        await log.integrate();
        const signed = await log.checkpoint(true);
        const served = (await log.latestNote())!;
        expect(served.size).toBe(signed!.size);
        const { text, signatures } = parseNote(served.note);
        const times = signatures
          .map((s) => verifyCosignature(witnessVerifier, text, s))
          .filter((t) => t !== undefined);
        expect(times).toHaveLength(1);
        expect(Math.abs(times[0]! - Date.now() / 1000)).toBeLessThan(60);
      }
      const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
      expect(state[ORIGIN].size).toBe((await log.status()).treeSize);
      expect(fs.statSync(stateFile).mode & 0o777).toBe(0o600);
      expect((await log.status()).witnesses).toEqual([
        { name: 'witness.test/w1', cosignedSize: state[ORIGIN].size, lastError: null },
      ]);
    });

    it('the auditor CLI trusts the first checkpoint, then follows it forward with a quorum of 1', async () => {
      const first = await checkpointVerify();
      expect([first.code, first.stderr]).toEqual([
        0,
        expect.stringMatching(/trusting this first checkpoint/),
      ]);
      expect(JSON.parse(first.stdout)).toMatchObject({
        ok: true,
        firstUse: true,
        saved: true,
        cosignatures: [{ witness: 'witness.test/w1' }],
      });
      await record(7);
      await log.integrate();
      await log.checkpoint(true);
      const second = await checkpointVerify();
      expect(second.code).toBe(0);
      expect(JSON.parse(second.stdout)).toMatchObject({
        ok: true,
        firstUse: false,
        saved: true,
        previous: { size: JSON.parse(first.stdout).size },
      });
      // Without the witness key the quorum cannot be met.
      const none = await cli(
        [
          'audit',
          'checkpoint',
          'verify',
          '--vkey',
          logKey.verifierKey,
          '--witness',
          generateNoteKey('other/w', NOTE_KEY_TYPE.cosignature).verifierKey,
          '--quorum',
          '1',
          '--state',
          auditorState,
        ],
        { DATABASE_URL: db.url },
      );
      expect([none.code, JSON.parse(none.stdout).reason]).toEqual([5, 'quorum']);
      // A wrong log key: the signature does not verify.
      const wrong = await cli(
        [
          'audit',
          'checkpoint',
          'verify',
          '--vkey',
          generateNoteKey(ORIGIN).verifierKey,
          '--state',
          auditorState,
        ],
        { DATABASE_URL: db.url },
      );
      expect(wrong.code).toBe(4);
    });

    it('refuses a second witness process on the same state file, naming the first', async () => {
      const second = await cli([
        'witness',
        'serve',
        '--key',
        `@${keyFile}`,
        '--log',
        `${ORIGIN}=${logKey.verifierKey}`,
        '--state',
        stateFile,
        '--listen',
        '127.0.0.1:0',
      ]);
      expect([second.code, second.stderr]).toEqual([
        2,
        expect.stringMatching(new RegExp(`another witness \\(pid ${witness.child.pid}\\)`)),
      ]);
    });

    it('a witness that is down shows in health() and the metrics until it cosigns again', async () => {
      expect(log.health()).toMatchObject({ healthy: true, witnesses: [{ ok: true }] });
      await stop(witness.child);
      await record(2);
      await log.integrate();
      await log.checkpoint(true);
      const health = log.health();
      expect(health).toMatchObject({
        healthy: false,
        signing: 'ok',
        passes: 'ok',
        witnesses: [{ name: 'witness.test/w1', ok: false }],
      });
      expect(health.witnesses[0].cosignedSize).toBeLessThan(health.checkpoint!.size);
      expect((await log.status()).witnesses[0].lastError).toMatch(/witness/);
      const metrics = await register.metrics();
      expect(metrics).toMatch(
        /^strikeguard_transparency_witness_failures_total\{witness="witness\.test\/w1"\} [1-9]/m,
      );
    });

    it('a restarted witness keeps its state; a log client that lost track follows its 409', async () => {
      if (witness.child.exitCode === null) await stop(witness.child);
      witness = await startWitness(keyFile, logKey.verifierKey, stateFile);
      // The log's client still has the old URL: restart the app on the new one (it knows no size).
      await app.close();
      const moduleRef = await Test.createTestingModule({
        imports: [
          ...auditImports(db.url, path.join(dir, 'audit')),
          TransparencyLogModule.forRoot({
            origin: ORIGIN,
            signingKey: logKey.signerKey,
            integrateIntervalMs: 60_000,
            checkpointIntervalMs: 60_000,
            witnesses: [{ url: witness.url, vkey: witnessKey.verifierKey }],
          }),
        ],
      }).compile();
      app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      log = app.get(TransparencyLogService);
      audit = app.get(AuditService);
      // The stored cosignatures tell the client the witness's size; remove that knowledge to force a 409.
      await sql.query(`SET session_replication_role = replica`);
      await sql.query(`DELETE FROM audit_cosignatures`);
      await sql.query(`SET session_replication_role = origin`);
      await record(3);
      await log.integrate();
      await log.checkpoint(true);
      expect((await log.status()).witnesses[0]).toMatchObject({ lastError: null });
      expect(log.health()).toMatchObject({ healthy: true, witnesses: [{ ok: true }] });
      const { text, signatures } = parseNote((await log.latestNote())!.note);
      expect(
        signatures.some((s) => verifyCosignature(witnessVerifier, text, s) !== undefined),
      ).toBe(true);
    });

    it('after the owner rewrites record 10 with every hash, the tree, the log files and the checkpoint files, the witness refuses and the auditor CLI reports the fork', async () => {
      const before = await log.status();
      await app.close();
      await rewriteHistory(sql, 10, path.join(dir, 'audit'));
      // The attacker owns the files too: the log's own fork guard has nothing left to compare.
      for (const f of [CHECKPOINT_FILE, CHECKPOINTS_FILE])
        fs.rmSync(path.join(dir, 'audit', f), { force: true });
      const moduleRef = await Test.createTestingModule({
        imports: [
          ...auditImports(db.url, path.join(dir, 'audit')),
          TransparencyLogModule.forRoot({
            origin: ORIGIN,
            signingKey: logKey.signerKey,
            integrateIntervalMs: 60_000,
            checkpointIntervalMs: 60_000,
            witnesses: [{ url: witness.url, vkey: witnessKey.verifierKey }],
          }),
        ],
      }).compile();
      app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      log = app.get(TransparencyLogService);
      audit = app.get(AuditService);
      await record(2);
      await log.integrate();
      const forged = await log.checkpoint(true);
      expect(forged!.size).toBeGreaterThan(before.treeSize);
      expect((await log.status()).witnesses[0].lastError).toMatch(
        /answered 422: .*consistency proof/,
      );
      expect(witness.stderr()).toMatch(/possible log misbehaviour/);
      // The forged checkpoint carries no cosignature.
      const { text, signatures } = parseNote((await log.latestNote())!.note);
      expect(
        signatures.some((s) => verifyCosignature(witnessVerifier, text, s) !== undefined),
      ).toBe(false);
      const res = await checkpointVerify();
      expect(res.code).toBe(3);
      const out = JSON.parse(res.stdout);
      expect(out).toMatchObject({
        ok: false,
        reason: 'fork',
        message: expect.stringMatching(/not an extension of the saved checkpoint/),
      });
      expect(out.saved.note).toMatch(/^witnessed.test\/audit\n/);
      expect(out.proof.length).toBeGreaterThan(0);
    });
  },
);
