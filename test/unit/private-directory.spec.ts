import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedDatabase } from '../../src/app/database/embedded-database.js';
import {
  describeTightened,
  ensurePrivateDirectory,
  tightenTree,
} from '../../src/app/database/private-directory.js';

const modeOf = (p: string) => fs.lstatSync(p).mode & 0o777;

describe('the private DATA_DIR', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-private-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('creates a missing directory and its parents 0700 even under umask 000', () => {
    const dir = path.join(root, 'a', 'b', 'data');
    const previous = process.umask(0);
    try {
      expect(ensurePrivateDirectory(dir, 'DATA_DIR')).toEqual([]);
    } finally {
      process.umask(previous);
    }
    expect(modeOf(dir)).toBe(0o700);
    expect(modeOf(path.join(root, 'a'))).toBe(0o700);
  });

  it('tightens an existing 0755 directory to 0700 and says so', () => {
    const dir = path.join(root, 'data');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o755);
    expect(ensurePrivateDirectory(dir, 'DATA_DIR')).toEqual([
      { path: dir, kind: 'directory', from: '0755', to: '0700' },
    ]);
    expect(modeOf(dir)).toBe(0o700);
  });

  it('refuses a path that is a file, naming the setting', () => {
    const file = path.join(root, 'data');
    fs.writeFileSync(file, '');
    expect(() => ensurePrivateDirectory(file, 'DATA_DIR')).toThrow(
      `DATA_DIR ${file} is not a directory: remove it or point DATA_DIR elsewhere`,
    );
  });

  (process.getuid?.() === 0 ? it : it.skip)(
    'refuses a directory another user owns (they could open it again), naming chown',
    () => {
      const dir = path.join(root, 'data');
      fs.mkdirSync(dir, { mode: 0o700 });
      fs.chownSync(dir, 65534, 65534);
      expect(() => ensurePrivateDirectory(dir, 'DATA_DIR')).toThrow(
        new RegExp(`DATA_DIR ${dir} belongs to uid 65534, not to this process .*chown -R 0 `),
      );
    },
  );

  it('tightens directories to 0700 and files to 0600 below it, never following a link', () => {
    const dir = path.join(root, 'data');
    fs.mkdirSync(path.join(dir, 'pglite', 'pg_wal'), { recursive: true });
    fs.chmodSync(path.join(dir, 'pglite'), 0o755);
    fs.chmodSync(path.join(dir, 'pglite', 'pg_wal'), 0o777);
    const hba = path.join(dir, 'pglite', 'pg_hba.conf');
    const segment = path.join(dir, 'pglite', 'pg_wal', '000000010000000000000001');
    const readOnly = path.join(dir, 'pglite', 'PG_VERSION');
    fs.writeFileSync(hba, 'local all all trust\n');
    fs.writeFileSync(segment, 'wal');
    fs.writeFileSync(readOnly, '18');
    fs.chmodSync(hba, 0o666);
    fs.chmodSync(segment, 0o644);
    fs.chmodSync(readOnly, 0o400); // narrower than 0600: left alone
    const outside = path.join(root, 'outside.txt');
    fs.writeFileSync(outside, '');
    fs.chmodSync(outside, 0o644);
    fs.symlinkSync(outside, path.join(dir, 'pglite', 'link'));

    const tightened = tightenTree(dir);
    expect(tightened).toEqual(
      expect.arrayContaining([
        { path: path.join(dir, 'pglite'), kind: 'directory', from: '0755', to: '0700' },
        { path: path.join(dir, 'pglite', 'pg_wal'), kind: 'directory', from: '0777', to: '0700' },
        { path: hba, kind: 'file', from: '0666', to: '0600' },
        { path: segment, kind: 'file', from: '0644', to: '0600' },
      ]),
    );
    expect(tightened).toHaveLength(4);
    expect([hba, segment].map(modeOf)).toEqual([0o600, 0o600]);
    expect(modeOf(readOnly)).toBe(0o400);
    expect(modeOf(outside)).toBe(0o644); // the link's target is not ours to change
    expect(tightenTree(dir)).toEqual([]); // nothing left to do
  });

  it('describes what it tightened in one line per kind of change, with an example', () => {
    const dir = '/srv/data';
    const lines = describeTightened(dir, [
      { path: dir, kind: 'directory', from: '0755', to: '0700' },
      { path: `${dir}/pglite`, kind: 'directory', from: '0755', to: '0700' },
      { path: `${dir}/pglite/base`, kind: 'directory', from: '0755', to: '0700' },
      { path: `${dir}/pglite/pg_hba.conf`, kind: 'file', from: '0666', to: '0600' },
      { path: `${dir}/pglite/PG_VERSION`, kind: 'file', from: '0666', to: '0600' },
      { path: `${dir}/strikeguard.lock`, kind: 'file', from: '0644', to: '0600' },
    ]);
    expect(lines).toEqual([
      'tightened /srv/data from 0755 to 0700',
      'tightened 2 directories under /srv/data from 0755 to 0700 (e.g. pglite)',
      'tightened 2 files under /srv/data from 0666 to 0600 (e.g. pglite/pg_hba.conf)',
      'tightened strikeguard.lock under /srv/data from 0644 to 0600',
    ]);
  });

  it('refuses a DATA_DIR too long for a Unix socket before creating anything, naming the fix', async () => {
    const dir = path.join(root, 'd'.repeat(100));
    await expect(startEmbeddedDatabase(dir)).rejects.toThrow(
      /^DATA_DIR .* is too long for the embedded database's Unix socket \(.*\.s\.PGSQL\.5432 is \d+ bytes; at most 107\): use a DATA_DIR of at most 93 bytes, or set DATABASE_URL$/,
    );
    expect(fs.existsSync(dir)).toBe(false);
  });
});
