import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { recordLine } from '../../src/audit/audit-hash.js';
import { AuditLogFile, type LastLogRecord } from '../../src/audit/audit-log-file.js';
import { type AuditRecord } from '../../src/audit/audit-record.js';

/** The log file on a temp directory, without a database: tickets, ordering, the start check. */

const record = (id: number): AuditRecord => ({
  id,
  occurredAt: '2026-11-25T10:00:00.000Z',
  type: 'unit.test',
  userId: `u${id}`,
  actorId: null,
  outcome: 'success',
  threat: 'none',
  ip: null,
  method: null,
  path: null,
  entityType: null,
  targetId: null,
  location: null,
  description: null,
  details: null,
  prevHash: String(id - 1).padStart(64, '0'),
  hash: String(id).padStart(64, 'a'),
});

const flushed = () => new Promise((resolve) => setImmediate(resolve));

let dirs: string[] = [];
let files: AuditLogFile[] = [];
afterEach(async () => {
  for (const f of files) await f.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  files = [];
  dirs = [];
});

function tempDir(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-unit-log-'));
  dirs.push(root);
  return path.join(root, 'audit');
}

function logFile(dir = tempDir()): AuditLogFile {
  const file = new AuditLogFile({ dir, fileName: 'audit.log', maxBytes: 1 << 20, fsync: false });
  files.push(file);
  return file;
}

const idsIn = (file: AuditLogFile) =>
  fs
    .readFileSync(file.path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as AuditRecord).id);

describe('AuditLogFile tickets', () => {
  it('writes tickets reserved 1, 2, 3 and settled 3, 1, 2 in the order 1, 2, 3', async () => {
    const file = logFile();
    await file.open();
    const [t1, t2, t3] = [file.reserve(), file.reserve(), file.reserve()];
    const resolved: number[] = [];

    const w3 = file.write(t3, [record(3)]).then(() => resolved.push(3));
    await flushed();
    expect(idsIn(file)).toEqual([]); // 3 waits for 1 and 2
    expect(resolved).toEqual([]);

    const w1 = file.write(t1, [record(1)]).then(() => resolved.push(1));
    await w1;
    expect(idsIn(file)).toEqual([1]); // 1 on disk when its promise resolves
    await flushed();
    expect(resolved).toEqual([1]); // 3 still waits for 2

    const w2 = file.write(t2, [record(2)]).then(() => resolved.push(2));
    await Promise.all([w2, w3]);
    expect(idsIn(file)).toEqual([1, 2, 3]);
    expect(resolved).toEqual([1, 2, 3]);
    expect(file.lastId).toBe(3);
  });

  it('a ticket with several records keeps them together, in their order', async () => {
    const file = logFile();
    await file.open();
    const [a, b] = [file.reserve(), file.reserve()];
    const wb = file.write(b, [record(4), record(5)]);
    await file.write(a, [record(1), record(2), record(3)]);
    await wb;
    expect(idsIn(file)).toEqual([1, 2, 3, 4, 5]);
    expect(fs.readFileSync(file.path, 'utf8')).toBe(
      [1, 2, 3, 4, 5].map((id) => `${recordLine(record(id))}\n`).join(''),
    );
  });

  it('an abandoned ticket does not stall the ones after it (first, middle, after they settled)', async () => {
    const file = logFile();
    await file.open();
    // abandoned first, while later ones wait
    const [a, b, c] = [file.reserve(), file.reserve(), file.reserve()];
    const wc = file.write(c, [record(2)]);
    const wb = file.write(b, [record(1)]);
    await flushed();
    expect(idsIn(file)).toEqual([]);
    file.abandon(a);
    await Promise.all([wb, wc]);
    expect(idsIn(file)).toEqual([1, 2]);

    // abandoned in the middle
    const [d, e, f] = [file.reserve(), file.reserve(), file.reserve()];
    await file.write(d, [record(3)]);
    const wf = file.write(f, [record(4)]);
    file.abandon(e);
    await wf;
    expect(idsIn(file)).toEqual([1, 2, 3, 4]);
    expect(file.lastId).toBe(4);

    // abandoned last: later reservations go on
    const g = file.reserve();
    file.abandon(g);
    await file.write(file.reserve(), [record(5)]);
    expect(idsIn(file)).toEqual([1, 2, 3, 4, 5]);
    expect(file.writable()).toBe(true);
  });

  it('an uncertain abandon (commit interrupted) breaks the file: later reservations refused', async () => {
    const file = logFile();
    await file.open();
    let broken = 0;
    file.onBroken = () => broken++;
    const [a, b] = [file.reserve(), file.reserve()];
    const wb = file.write(b, [record(1)]).then(
      () => 'written',
      (error: Error) => error.name,
    );
    file.abandon(a, true);
    expect(await wb).toBe('AuditLogUnavailableError'); // fail closed: the table holds the truth
    expect(broken).toBe(1);
    expect(file.writable()).toBe(false);
    expect(() => file.reserve()).toThrow(/commit was interrupted/);
    expect(idsIn(file)).toEqual([]);
  });

  it('any settle order, any abandons: the file holds the kept records in ticket order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 12 })
          .chain((n) =>
            fc.tuple(
              fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
              fc.array(fc.boolean(), { minLength: n, maxLength: n }),
            ),
          ),
        async ([order, abandoned]) => {
          const file = logFile();
          await file.open();
          const tickets = order.map(() => file.reserve());
          const writes: Promise<void>[] = [];
          for (const i of order) {
            if (abandoned[i]) file.abandon(tickets[i]);
            else writes.push(file.write(tickets[i], [record(i + 1)]));
          }
          await Promise.all(writes);
          const kept = order
            .map((_, i) => i)
            .filter((i) => !abandoned[i])
            .map((i) => i + 1);
          expect(idsIn(file)).toEqual(kept);
          await file.close();
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('AuditLogFile.open and its start check', () => {
  async function written(ids: number[], dir = tempDir()): Promise<AuditLogFile> {
    const file = logFile(dir);
    await file.open();
    await file.appendRecovered(ids.map(record));
    await file.close();
    return file;
  }

  const seen = async (file: AuditLogFile) => {
    let last: LastLogRecord | null | undefined;
    await file.open(async (l) => {
      last = l;
    });
    await file.close();
    return last;
  };

  it('shows the check the last complete record; null for an empty or new directory', async () => {
    expect(await seen(logFile())).toBeNull();
    const file = await written([1, 2, 7]);
    expect(await seen(file)).toEqual({ file: file.path, id: 7, hash: record(7).hash });
    fs.appendFileSync(file.path, '{"id":8,"hash":"torn'); // a torn tail is not a record
    expect(await seen(file)).toEqual({ file: file.path, id: 7, hash: record(7).hash });
  });

  it('the newest rotated file when the current one is empty', async () => {
    const file = await written([1, 2, 3]);
    const rotated = `${file.path}.2026-01-01T00-00-00-000Z.000000000003`;
    fs.renameSync(file.path, rotated);
    fs.writeFileSync(file.path, '');
    expect(await seen(file)).toEqual({ file: rotated, id: 3, hash: record(3).hash });
  });

  it('a last line that is not a record is shown as such (id and hash null)', async () => {
    const file = await written([1]);
    fs.appendFileSync(file.path, '{"id":"2"}\n');
    expect(await seen(file)).toEqual({ file: file.path, id: null, hash: null });
  });

  it('a check that throws leaves the files byte for byte, repairs nothing, frees the lock', async () => {
    const file = await written([1, 2]);
    fs.appendFileSync(file.path, '{"torn');
    fs.chmodSync(file.path, 0o644);
    const dir = path.dirname(file.path);
    const before = fs.readdirSync(dir).map((n) => [n, fs.readFileSync(path.join(dir, n), 'utf8')]);
    await expect(
      file.open(async () => {
        throw new Error('foreign');
      }),
    ).rejects.toThrow('foreign');
    expect(fs.readdirSync(dir).map((n) => [n, fs.readFileSync(path.join(dir, n), 'utf8')])).toEqual(
      before,
    );
    expect(fs.statSync(file.path).mode & 0o777).toBe(0o644); // not even tightened
    // the lock is free: the same file opens (and is repaired) now
    expect(await file.open()).toEqual([{ path: file.path, from: '0644', to: '0600' }]);
    expect(fs.readFileSync(file.path, 'utf8').endsWith('\n')).toBe(true);
    expect(file.lastId).toBe(2);
  });
});

describe('AuditLogFile and its single-writer lock', () => {
  const timing = { heartbeatMs: 20, staleAfterMs: 100 };
  const lockOf = (file: AuditLogFile) =>
    path.join(path.dirname(file.path), `.${path.basename(file.path)}.lock`);

  it('a second file on the same path is refused, naming the fix', async () => {
    const dir = tempDir();
    await logFile(dir).open();
    const second = logFile(dir);
    await expect(second.open()).rejects.toThrow(
      new RegExp(`${second.path} is written by process ${process.pid}; .*AUDIT_LOG_FILE.*logFile`),
    );
  });

  it('once another process has taken its lock, it writes not one line more (fail closed)', async () => {
    const dir = tempDir();
    const file = new AuditLogFile({
      dir,
      fileName: 'audit.log',
      maxBytes: 1 << 20,
      fsync: false,
      lock: timing,
    });
    files.push(file);
    await file.open();
    let broken = 0;
    file.onBroken = () => broken++;
    await file.write(file.reserve(), [record(1)]);

    // What a takeover leaves: the lock removed and created anew by a holder elsewhere.
    const lock = lockOf(file);
    const theirs = JSON.stringify({
      strikeguardLock: 1,
      nonce: 'f'.repeat(32),
      pid: 1,
      host: 'elsewhere',
      namespace: 'another-boot/pid:[1]',
      since: new Date().toISOString(),
      beat: '000000000000',
    });
    fs.rmSync(lock);
    fs.writeFileSync(lock, `${theirs}\n`);
    // The event loop stalls past the heartbeat (no timer runs): the write itself checks the lock.
    const until = performance.now() + 3 * timing.heartbeatMs;
    while (performance.now() < until);
    const outcome = await file.write(file.reserve(), [record(2)]).then(
      () => 'written',
      (error: Error) => `${error.name}: ${error.message}`,
    );

    expect(outcome).toMatch(
      /^AuditLogUnavailableError: lost the lock .*taken over by process 1 on elsewhere/,
    );
    expect(broken).toBe(1);
    expect(file.writable()).toBe(false);
    expect(idsIn(file)).toEqual([1]);
    await file.close();
    expect(fs.readFileSync(lock, 'utf8')).toBe(`${theirs}\n`); // theirs, left alone
  });
});
