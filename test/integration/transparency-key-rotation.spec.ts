import fs from 'node:fs';
import http from 'node:http';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  generateNoteKey,
  openNote,
  parseCheckpoint,
  parseNote,
  parseVerifierKey,
} from '../../src/index.js';
import { cli } from '../support/cli.js';
import { request } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  type TestDatabase,
} from '../support/postgres.js';
import { adminEnv, adminToken, newUser, startTestApp, type TestApp } from '../support/test-app.js';

const ORIGIN = 'rotation.test/audit';

/**
 * Key rotation (issue 11: "verifiers accept several keys") on the reference service, and the
 * auditor CLI's `--url` against answers that are not the API's.
 */
describeWithPostgres(
  'transparency log key rotation, and the CLI against hostile --url answers',
  () => {
    let db: TestDatabase;
    let svc: TestApp;
    let admin: string;
    let dir: string;
    let state: string;
    const oldKey = generateNoteKey(ORIGIN);
    const newKey = generateNoteKey(ORIGIN);
    const env = (signer: string, previous?: string) => ({
      ...adminEnv(),
      AUDIT_LOG_ORIGIN: ORIGIN,
      AUDIT_SIGNING_KEY: signer,
      AUDIT_CHECKPOINT_INTERVAL: '1s',
      ...(previous !== undefined && { AUDIT_PREVIOUS_KEYS: previous }),
    });
    /** The served checkpoint once it covers `size` records (signed by one of `vkeys`). */
    const checkpointOf = async (size: number, vkeys: string[]) => {
      const verifiers = vkeys.map((k) => parseVerifierKey(k));
      for (let i = 0; i < 100; i++) {
        const res = await request(svc.base, 'GET', '/audit/log/checkpoint', { token: admin });
        if (res.status === 200) {
          const c = parseCheckpoint(openNote(res.text, verifiers).text);
          if (c.size >= size) return { ...c, note: res.text };
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no checkpoint of ${size} records within 10 s`);
    };
    const chainSize = async () => {
      const res = await request(svc.base, 'GET', '/audit/events?limit=1', { token: admin });
      return res.body.items[0].id as number;
    };
    const verifyCheckpoint = (vkeys: string[], url = svc.base) =>
      cli([
        'audit',
        'checkpoint',
        'verify',
        '--url',
        url,
        '--token',
        admin,
        ...vkeys.flatMap((k) => ['--vkey', k]),
        '--state',
        state,
      ]);
    const restart = async (extra: Record<string, string>) => {
      const auditDir = svc.auditDir;
      await svc.close();
      svc = await startTestApp(db.url, { ...extra, AUDIT_LOG_DIR: auditDir });
      admin = await adminToken(svc.base);
    };

    beforeAll(async () => {
      db = await createTestDatabase('sg_tlog_rotation');
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-rotation-'));
      state = path.join(dir, 'auditor-checkpoint');
      svc = await startTestApp(db.url, env(oldKey.signerKey));
      admin = await adminToken(svc.base);
    });

    afterAll(async () => {
      await svc?.close();
      await db?.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('after a rotation the service signs with the new key, and auditors holding both keys follow it forward', async () => {
      await newUser(svc.base);
      const before = await checkpointOf(await chainSize(), [oldKey.verifierKey]);
      const first = await verifyCheckpoint([oldKey.verifierKey]);
      expect([first.code, JSON.parse(first.stdout)]).toEqual([
        0,
        expect.objectContaining({ ok: true, firstUse: true, saved: true }),
      ]);
      // A proof written before the rotation (signed with the old key).
      const oldProof = path.join(dir, 'old.tlog-proof');
      const proved = await cli(['audit', 'prove', '1', '--url', svc.base, '--token', admin]);
      expect([proved.code, proved.stderr]).toEqual([0, '']);
      fs.writeFileSync(oldProof, proved.stdout);
      const record1 = path.join(dir, 'record-1.json');
      const r1 = await request(svc.base, 'GET', '/audit/events/1', { token: admin });
      fs.writeFileSync(record1, r1.text);

      // Rotated without telling the service the old key: the fork guard cannot read its own last
      // checkpoint, so it refuses to sign, and says so in /health.
      await restart(env(newKey.signerKey));
      await newUser(svc.base);
      let health = await request(svc.base, 'GET', '/health');
      for (let i = 0; i < 50 && health.body.transparencyLog.signing !== 'refused'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        health = await request(svc.base, 'GET', '/health');
      }
      expect(health.body).toMatchObject({
        status: 'degraded',
        transparencyLog: { signing: 'refused' },
      });
      const stale = await request(svc.base, 'GET', '/audit/log/checkpoint', { token: admin });
      expect(stale.text).toBe(before.note);

      // With AUDIT_PREVIOUS_KEYS it signs with the new key on top of the old checkpoint.
      await restart(env(newKey.signerKey, oldKey.verifierKey));
      await newUser(svc.base);
      const after = await checkpointOf(await chainSize(), [newKey.verifierKey]);
      expect(after.size).toBeGreaterThan(before.size);
      expect(parseNote(after.note).signatures).toHaveLength(1); // the new key only
      // The key first, then the previous keys still accepted: an auditor learns both from it.
      expect((await request(svc.base, 'GET', '/audit/log/key', { token: admin })).text).toBe(
        `${newKey.verifierKey}\n${oldKey.verifierKey}\n`,
      );
      expect((await request(svc.base, 'GET', '/health')).body.transparencyLog.signing).toBe('ok');

      // An auditor with only the old key: the new checkpoint does not verify (exit 4), state kept.
      const savedBefore = fs.readFileSync(state, 'utf8');
      const onlyOld = await verifyCheckpoint([oldKey.verifierKey]);
      expect(onlyOld.code).toBe(4);
      expect(fs.readFileSync(state, 'utf8')).toBe(savedBefore);
      // Only the new key: the saved checkpoint cannot be read, and the CLI says which flag to add.
      const onlyNew = await verifyCheckpoint([newKey.verifierKey]);
      expect([onlyNew.code, onlyNew.stderr]).toEqual([
        2,
        expect.stringMatching(/does not hold a checkpoint signed by the --vkey keys/),
      ]);
      // Both keys: proven consistent with the old-key checkpoint, and saved (now the new key's).
      const both = await verifyCheckpoint([oldKey.verifierKey, newKey.verifierKey]);
      expect([both.code, JSON.parse(both.stdout)]).toEqual([
        0,
        expect.objectContaining({
          ok: true,
          firstUse: false,
          saved: true,
          size: after.size,
          previous: expect.objectContaining({ size: before.size }),
        }),
      ]);
      expect(fs.readFileSync(state, 'utf8')).toBe(after.note);
      const next = await verifyCheckpoint([newKey.verifierKey]);
      expect(next.code).toBe(0);

      // The proof from before the rotation still verifies with the old key, offline.
      const offline = await cli([
        'audit',
        'verify-proof',
        '--vkey',
        newKey.verifierKey,
        '--vkey',
        oldKey.verifierKey,
        oldProof,
        record1,
      ]);
      expect([offline.code, JSON.parse(offline.stdout)]).toEqual([
        0,
        expect.objectContaining({ ok: true, id: 1, size: before.size }),
      ]);
    });

    it('names a --url that is not an http(s) URL, or that carries credentials, without a request', async () => {
      for (const [url, message] of [
        ['not a url', /is not a URL/],
        ['ftp://127.0.0.1/', /http:\/\/ or https:\/\//],
        ['http://user:pw@127.0.0.1:1/', /must not carry credentials/],
        ['http://127.0.0.1:1/?x=1', /query or a fragment/],
      ] as const) {
        const res = await verifyCheckpoint([newKey.verifierKey], url);
        expect([url, res.code, res.stderr]).toEqual([url, 2, expect.stringMatching(message)]);
        const tail = await cli(['audit', 'tail', '-n', '1', '--url', url, '--token', admin]);
        expect([url, tail.code, tail.stderr]).toEqual([url, 2, expect.stringMatching(message)]);
      }
      const closed = await verifyCheckpoint([newKey.verifierKey], 'http://127.0.0.1:1');
      expect([closed.code, closed.stderr]).toEqual([2, expect.stringMatching(/cannot reach/)]);
    });

    it('refuses answers that are not the API (not JSON, a malformed or mismatched proof, a redirect) with exit 2 and the state untouched', async () => {
      const saved = fs.readFileSync(state, 'utf8');
      // A proxy in front of the real service that alters one answer per case.
      let alter: (p: string, body: string) => { status?: number; body: string; location?: string };
      const proxy = http.createServer(async (req, res) => {
        const upstream = await fetch(new URL(req.url!, svc.base), {
          headers: { authorization: req.headers.authorization ?? '' },
        });
        const out = alter(req.url!, await upstream.text());
        res.writeHead(out.status ?? upstream.status, {
          'content-type': upstream.headers.get('content-type') ?? 'text/plain',
          ...(out.location && { location: out.location }),
        });
        res.end(out.body);
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      const base = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`;
      try {
        // The log grows, so the CLI asks for a consistency proof through the proxy.
        await newUser(svc.base);
        await checkpointOf(await chainSize(), [newKey.verifierKey]);
        const consistency =
          (f: (body: Record<string, unknown>) => unknown) => (p: string, b: string) =>
            p.startsWith('/audit/log/proof/consistency')
              ? { body: JSON.stringify(f(JSON.parse(b))) }
              : { body: b };
        const cases: [string, typeof alter, RegExp][] = [
          [
            'not JSON',
            (p, b) =>
              p.startsWith('/audit/log/proof') ? { body: '<html>login</html>' } : { body: b },
            /answered 200 with a body that is not a JSON object: is --url the strikeguard API/,
          ],
          ['no proof', consistency((b) => ({ ...b, proof: 'x' })), /not an array of at most 64/],
          [
            'a hash that is not base64 SHA-256',
            consistency((b) => ({ ...b, proof: ['@@@', ...(b.proof as string[])] })),
            /proof\[0\] that is not a base64 SHA-256 hash/,
          ],
          [
            'a proof between other sizes',
            consistency((b) => ({ ...b, from: 1 })),
            /a proof between other sizes/,
          ],
          [
            'a redirect elsewhere',
            (p, b) =>
              p.startsWith('/audit/log/proof')
                ? { status: 302, body: '', location: 'http://127.0.0.1:1/' }
                : { body: b },
            /cannot reach/,
          ],
          [
            'a 500',
            (p, b) =>
              p.startsWith('/audit/log/proof') ? { status: 500, body: '{}' } : { body: b },
            /500 from \/audit\/log\/proof\/consistency/,
          ],
        ];
        for (const [what, f, message] of cases) {
          alter = f;
          const res = await verifyCheckpoint([newKey.verifierKey], base);
          expect([what, res.code, res.stderr]).toEqual([what, 2, expect.stringMatching(message)]);
          expect(fs.readFileSync(state, 'utf8')).toBe(saved);
        }
        // Behind a path prefix, through the same proxy unaltered: it works and moves forward.
        alter = (_p, b) => ({ body: b });
        const ok = await verifyCheckpoint([newKey.verifierKey], base);
        expect([ok.code, JSON.parse(ok.stdout).ok]).toEqual([0, true]);
      } finally {
        await new Promise((r) => proxy.close(r));
      }
    });
  },
);
