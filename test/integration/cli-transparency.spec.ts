import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import pg from 'pg';
import {
  AuditService,
  CHECKPOINT_FILE,
  generateNoteKey,
  TransparencyLogModule,
  TransparencyLogService,
} from '../../src/index.js';
import { cli } from '../support/cli.js';
import {
  createTestDatabase,
  describeWithPostgres,
  type TestDatabase,
} from '../support/postgres.js';
import { rewriteHistory } from '../support/rewrite-history.js';
import { PROJECT_ROOT } from '../support/service-process.js';
import { auditImports } from '../support/strikeguard-imports.js';

const ORIGIN = 'cli.test/audit';

describeWithPostgres(
  'strikeguard audit keygen, prove, verify-proof and verify --checkpoint (issue 11)',
  () => {
    let db: TestDatabase;
    let dir: string;
    let logDir: string;
    let app: INestApplicationContext;
    let audit: AuditService;
    let log: TransparencyLogService;
    const key = generateNoteKey(ORIGIN);

    beforeAll(async () => {
      db = await createTestDatabase('sg_cli_tlog');
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-cli-tlog-'));
      logDir = path.join(dir, 'audit');
      const moduleRef = await Test.createTestingModule({
        imports: [
          ...auditImports(db.url, logDir),
          TransparencyLogModule.forRoot({
            origin: ORIGIN,
            signingKey: key.signerKey,
            integrateIntervalMs: 60_000,
            checkpointIntervalMs: 60_000,
          }),
        ],
      }).compile();
      app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      audit = app.get(AuditService);
      log = app.get(TransparencyLogService);
      await audit.recordMany(
        Array.from({ length: 40 }, (_, i) => ({
          type: 'cli.test',
          userId: `u${i}`,
          details: { i },
        })),
      );
      await log.integrate();
      await log.checkpoint(true);
    });

    afterAll(async () => {
      await app?.close();
      await db?.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('keygen prints a signing key and its verifier key, and writes nothing', async () => {
      const res = await cli(['audit', 'keygen', '--origin', 'a.example/log'], { HOME: dir });
      expect(res.code).toBe(0);
      const [signer, vkey] = res.stdout.trim().split('\n');
      expect(signer).toMatch(/^PRIVATE\+KEY\+a\.example\/log\+[0-9a-f]{8}\+/);
      expect(vkey).toMatch(/^a\.example\/log\+[0-9a-f]{8}\+/);
      expect(res.stderr).toMatch(/AUDIT_SIGNING_KEY/);
      const bad = await cli(['audit', 'keygen', '--origin', 'has space']);
      expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/key name/)]);
    });

    it('prove writes a C2SP tlog-proof that verify-proof and a 30-line script without strikeguard both accept', async () => {
      const res = await cli(['audit', 'prove', '17'], { DATABASE_URL: db.url });
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/^c2sp\.org\/tlog-proof@v1\nindex 16\n/);
      const proof = path.join(dir, 'r17.tlog-proof');
      fs.writeFileSync(proof, res.stdout);
      const record = await audit.findById(17);
      const recordFile = path.join(dir, 'r17.json');
      fs.writeFileSync(recordFile, JSON.stringify(record));
      const ok = await cli(['audit', 'verify-proof', '--vkey', key.verifierKey, proof, recordFile]);
      expect([ok.code, JSON.parse(ok.stdout)]).toEqual([
        0,
        { ok: true, id: 17, size: 40, cosignedBy: [] },
      ]);
      const script = spawnSync(
        process.execPath,
        [
          path.join(PROJECT_ROOT, 'examples', 'verify-inclusion.mjs'),
          key.verifierKey,
          proof,
          record!.hash,
        ],
        { encoding: 'utf8' },
      );
      expect([script.status, script.stdout]).toEqual([0, expect.stringMatching(/^ok: record/)]);

      // An altered record, another key, a tampered proof line, another record: each refused.
      fs.writeFileSync(
        path.join(dir, 'altered.json'),
        JSON.stringify({ ...record, details: { i: 999 } }),
      );
      const altered = await cli([
        'audit',
        'verify-proof',
        '--vkey',
        key.verifierKey,
        proof,
        path.join(dir, 'altered.json'),
      ]);
      expect([altered.code, JSON.parse(altered.stdout).message]).toEqual([
        1,
        expect.stringMatching(/altered/),
      ]);
      const wrongKey = await cli([
        'audit',
        'verify-proof',
        '--vkey',
        generateNoteKey(ORIGIN).verifierKey,
        proof,
        recordFile,
      ]);
      expect([wrongKey.code, JSON.parse(wrongKey.stdout).message]).toEqual([
        1,
        expect.stringMatching(/checkpoint does not verify/),
      ]);
      const lines = res.stdout.split('\n');
      lines[2] = Buffer.alloc(32, 7).toString('base64');
      fs.writeFileSync(path.join(dir, 'tampered'), lines.join('\n'));
      const tampered = await cli([
        'audit',
        'verify-proof',
        '--vkey',
        key.verifierKey,
        path.join(dir, 'tampered'),
        recordFile,
      ]);
      expect([tampered.code, JSON.parse(tampered.stdout).message]).toEqual([
        1,
        expect.stringMatching(/not at index 16/),
      ]);
      const tamperedScript = spawnSync(
        process.execPath,
        [
          path.join(PROJECT_ROOT, 'examples', 'verify-inclusion.mjs'),
          key.verifierKey,
          path.join(dir, 'tampered'),
          record!.hash,
        ],
        { encoding: 'utf8' },
      );
      expect(tamperedScript.status).not.toBe(0);
      fs.writeFileSync(path.join(dir, 'r18.json'), JSON.stringify(await audit.findById(18)));
      const other = await cli([
        'audit',
        'verify-proof',
        '--vkey',
        key.verifierKey,
        proof,
        path.join(dir, 'r18.json'),
      ]);
      expect([other.code, JSON.parse(other.stdout).message]).toEqual([
        1,
        expect.stringMatching(/for record 17, not 18/),
      ]);
      const notYet = await cli(['audit', 'prove', '41'], { DATABASE_URL: db.url });
      expect([notYet.code, notYet.stderr]).toEqual([
        2,
        expect.stringMatching(/not in the latest checkpoint/),
      ]);
    });

    it('verify --log-dir --checkpoint recomputes the root from the files alone; a rewrite or a cut is a fork', async () => {
      const checkpoint = path.join(dir, 'held-checkpoint');
      fs.copyFileSync(path.join(logDir, CHECKPOINT_FILE), checkpoint);
      const args = [
        'audit',
        'verify',
        '--log-dir',
        logDir,
        '--checkpoint',
        checkpoint,
        '--vkey',
        key.verifierKey,
      ];
      const ok = await cli(args);
      expect([ok.code, JSON.parse(ok.stdout)]).toMatchObject([0, { ok: true, checked: 40 }]);
      const wrong = await cli([...args.slice(0, -1), generateNoteKey(ORIGIN).verifierKey]);
      expect(wrong.code).toBe(4);

      // The owner rewrites record 10 and every later hash, in the table and the files alike.
      await app.close();
      app = undefined as never;
      const sql = new pg.Client({ connectionString: db.url });
      await sql.connect();
      try {
        await rewriteHistory(sql, 10, logDir);
      } finally {
        await sql.end();
      }
      const plain = await cli(['audit', 'verify', '--log-dir', logDir]);
      expect(plain.code).toBe(0); // the chain alone cannot tell
      const fork = await cli(args);
      expect([fork.code, JSON.parse(fork.stdout)]).toMatchObject([
        3,
        { ok: false, reason: 'fork' },
      ]);

      // Cut below the checkpoint: the last 5 lines removed.
      const file = path.join(logDir, 'audit.log');
      const kept = fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(0, 35);
      fs.writeFileSync(file, kept.join('\n') + '\n');
      const cut = await cli(args);
      expect([cut.code, JSON.parse(cut.stdout)]).toMatchObject([3, { ok: false, reason: 'cut' }]);
    });
  },
);
