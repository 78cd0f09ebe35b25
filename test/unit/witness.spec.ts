import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  formatCheckpoint,
  generateNoteKey,
  leafHash,
  NOTE_KEY_TYPE,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  rootOf,
  signNote,
  verifyCosignature,
  Witness,
} from '../../src/index.js';
import { consistencyRanges } from '../../src/transparency/tree-proofs.js';

const ORIGIN = 'unit.test/log';

describe('Witness.addCheckpoint (C2SP tlog-witness)', () => {
  const logSigner = parseSignerKey(generateNoteKey(ORIGIN).signerKey);
  const otherSigner = parseSignerKey(generateNoteKey(ORIGIN).signerKey);
  const witnessSigner = parseSignerKey(
    generateNoteKey('unit.test/w', NOTE_KEY_TYPE.cosignature).signerKey,
    [NOTE_KEY_TYPE.cosignature],
  );
  const leaves = Array.from({ length: 40 }, (_, i) => leafHash(Buffer.from(`r${i}`)));
  const note = (size: number, signer = logSigner, origin = ORIGIN, ls = leaves) =>
    signNote(
      signer,
      formatCheckpoint({ origin, size, root: rootOf(ls.slice(0, size)), extensions: [] }),
    );
  const proof = (m: number, n: number, ls = leaves) =>
    m === 0 || m === n ? [] : consistencyRanges(m, n).map(([s, e]) => rootOf(ls.slice(s, e)));
  const body = (
    old: number,
    n: number,
    opts: { signer?: typeof logSigner; ls?: Buffer[]; p?: Buffer[] } = {},
  ) =>
    Buffer.from(
      `old ${old}\n` +
        (opts.p ?? proof(old, n, opts.ls)).map((h) => h.toString('base64') + '\n').join('') +
        '\n' +
        note(n, opts.signer, ORIGIN, opts.ls),
    );
  let dir: string;
  let state: string;
  let witness: Witness;
  const misbehaviour: string[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-w-'));
    state = path.join(dir, 'state.json');
    witness = new Witness(
      witnessSigner,
      [{ origin: ORIGIN, verifiers: [parseVerifierKey(logSigner.vkey)] }],
      state,
      () => 1_700_000_000,
      (m) => misbehaviour.push(m),
    );
    await witness.load();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('cosigns a first checkpoint and then each consistent extension, persisting before it answers', async () => {
    const first = await witness.addCheckpoint(body(0, 10));
    expect(first.status).toBe(200);
    const body10 = formatCheckpoint({
      origin: ORIGIN,
      size: 10,
      root: rootOf(leaves.slice(0, 10)),
      extensions: [],
    });
    const [sig] = parseNote(`${body10}\n${first.body}`).signatures;
    expect(verifyCosignature(parseVerifierKey(witnessSigner.vkey, [4]), body10, sig)).toBe(
      1_700_000_000,
    );
    expect(JSON.parse(fs.readFileSync(state, 'utf8'))[ORIGIN].size).toBe(10);
    expect((await witness.addCheckpoint(body(10, 33))).status).toBe(200);
    expect((await witness.addCheckpoint(body(33, 33))).status).toBe(200); // same tree again
    const reloaded = new Witness(
      witnessSigner,
      [{ origin: ORIGIN, verifiers: [parseVerifierKey(logSigner.vkey)] }],
      state,
    );
    await reloaded.load();
    expect(reloaded.latest(ORIGIN)?.size).toBe(33);
  });

  it('answers every refusal with its status and a reason, and cosigns nothing', async () => {
    await witness.addCheckpoint(body(0, 10));
    const forked = leaves.map((l, i) => (i === 3 ? leafHash(Buffer.from('forged')) : l));
    const cases: [string, Buffer, number, RegExp][] = [
      ['stale old size', body(5, 12), 409, /^10\n$/],
      ['old size ahead', body(11, 12), 409, /^10\n$/],
      ['same size, other root', body(10, 10, { ls: forked }), 409, /^10\n$/],
      ['inconsistent history', body(10, 12, { ls: forked }), 422, /does not verify/],
      [
        'wrong proof',
        body(10, 12, { p: proof(10, 12).map((h) => Buffer.from(h).fill(1)) }),
        422,
        /does not verify/,
      ],
      ['old > size', Buffer.from(`old 13\n\n${note(12)}`), 400, /larger than the checkpoint size/],
      ['unknown key', body(10, 12, { signer: otherSigner }), 403, /trusted key/],
      [
        'unknown origin',
        Buffer.from(`old 0\n\n${note(3, logSigner, 'other.test/log')}`),
        404,
        /unknown log origin/,
      ],
      ['no old line', Buffer.from(`\n${note(12)}`), 400, /old <size>/],
      ['leading zero', Buffer.from(`old 010\n\n${note(12)}`), 400, /old <size>/],
      [
        '64 proof lines',
        Buffer.from(
          `old 10\n${`${Buffer.alloc(32).toString('base64')}\n`.repeat(64)}\n${note(12)}`,
        ),
        400,
        /63/,
      ],
      ['bad base64', Buffer.from(`old 10\n!!!\n\n${note(12)}`), 400, /base64/],
      ['short hash', Buffer.from(`old 10\nAAAA\n\n${note(12)}`), 400, /32-byte/],
      ['CRLF', Buffer.from(body(10, 12).toString().replace(/\n/g, '\r\n')), 400, /./],
      [
        'not UTF-8',
        Buffer.concat([Buffer.from('old 10\n\n'), Buffer.of(0xff, 0xfe)]),
        400,
        /UTF-8/,
      ],
      ['oversized', Buffer.alloc(70_000, 'a'), 413, /larger/],
      ['no note', Buffer.from('old 10\n\n'), 400, /./],
    ];
    for (const [what, b, status, message] of cases) {
      const answer = await witness.addCheckpoint(b);
      expect([what, answer.status]).toEqual([what, status]);
      expect([what, answer.body]).toEqual([what, expect.stringMatching(message)]);
      if (status === 409) expect(answer.contentType).toBe('text/x.tlog.size');
    }
    expect(witness.latest(ORIGIN)?.size).toBe(10);
    expect(misbehaviour.length).toBeGreaterThanOrEqual(2);
  });

  it('racing submissions of N and N+K never roll the state back', async () => {
    await witness.addCheckpoint(body(0, 5));
    const answers = await Promise.all([
      witness.addCheckpoint(body(5, 20)),
      witness.addCheckpoint(body(5, 12)),
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 409]);
    expect(witness.latest(ORIGIN)?.size).toBe(20);
  });
});
