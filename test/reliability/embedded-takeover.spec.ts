import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from '../support/http.js';
import {
  ATTACKER,
  canActAsAnotherUser,
  ensureAttacker,
  runAsAttacker,
  type RunResult,
} from '../support/os-user.js';
import { listeningPortsOf } from '../support/proc-net.js';
import {
  PROJECT_ROOT,
  SERVICE_JWT_SECRET,
  registerAndLogin,
  spawnService,
  startService,
  tempDir,
  waitUntilHealthy,
  type ServiceProcess,
} from '../support/service-process.js';

// Issue 9, item 1: another OS user on the host must not reach the embedded database — not over
// TCP (there is no port), not on its Unix socket, not through its files — during start-up or
// after. The working directory is opened to everyone (0755) so that DATA_DIR alone protects the
// database, as with the default ./data in a checkout anyone can read.

const EMBEDDED = { DATABASE_URL: undefined, JWT_SECRET: SERVICE_JWT_SECRET };
const ATTACKER_SCRIPT = path.join(PROJECT_ROOT, 'test', 'support', 'embedded-db-attacker.mjs');
const SOCKET_NAME = '.s.PGSQL.5432';

interface AttackReport {
  tcp: { port: number; ok: boolean; error?: string; users?: number | null }[];
  socket: { attempts: number; connected: number; errors: Record<string, number> };
  files: { attempts: number; read: number; errors: Record<string, number> };
}

/** Every path under `dir` (not following links) with its type and permission bits. */
function modesUnder(dir: string): { path: string; kind: string; mode: number }[] {
  const out: { path: string; kind: string; mode: number }[] = [];
  const walk = (current: string) => {
    for (const name of fs.readdirSync(current)) {
      const target = path.join(current, name);
      const stat = fs.lstatSync(target);
      const kind = stat.isDirectory() ? 'dir' : stat.isSocket() ? 'socket' : 'file';
      out.push({ path: path.relative(dir, target), kind, mode: stat.mode & 0o777 });
      if (stat.isDirectory()) walk(target);
    }
  };
  walk(dir);
  return out;
}

/** The first WAL segment of the embedded database. */
function walSegment(dataDir: string): string {
  const wal = path.join(dataDir, 'pglite', 'pg_wal');
  const name = fs.readdirSync(wal).find((n) => /^[0-9A-F]{24}$/.test(n));
  if (!name) throw new Error(`no WAL segment in ${wal}`);
  return path.join(wal, name);
}

/** Loosens every permission under `dir` as an older version (or a careless umask) left them. */
function loosen(dir: string): void {
  fs.chmodSync(dir, 0o755);
  for (const entry of modesUnder(dir)) {
    if (entry.kind === 'socket') continue;
    fs.chmodSync(path.join(dir, entry.path), entry.kind === 'dir' ? 0o755 : 0o666);
  }
}

const psqlAsAttacker = (args: string[]): Promise<RunResult> =>
  runAsAttacker('psql', [
    '-U',
    'postgres',
    '-d',
    'postgres',
    '-w',
    '-At',
    '-c',
    'SELECT count(*) FROM users',
    ...args,
  ]);

/**
 * Starts the service while the attacker polls it from before the spawn until it is healthy; the
 * test watches the service's own listening sockets meanwhile and hands each port to the attacker.
 */
async function startUnderAttack(dir: string): Promise<{
  svc: ServiceProcess;
  ports: number[];
  report: AttackReport;
}> {
  const shared = tempDir('sg-attack-');
  fs.chmodSync(shared, 0o755);
  const targets = path.join(shared, 'targets');
  const stop = path.join(shared, 'stop');
  fs.writeFileSync(targets, '', { mode: 0o644 });
  const dataDir = path.join(dir, 'data');
  const attack = runAsAttacker(
    process.execPath,
    [ATTACKER_SCRIPT, PROJECT_ROOT, dataDir, targets, stop, '120000'],
    { timeoutMs: 150_000 },
  );
  await sleep(300); // the attacker is polling before the service exists

  const svc = await spawnService({ dir, env: EMBEDDED, lifetime: 'file' });
  const seen = new Set<number>();
  let watching = true;
  const watch = (async () => {
    while (watching) {
      for (const port of listeningPortsOf(svc.pid)) {
        if (seen.has(port)) continue;
        seen.add(port);
        fs.appendFileSync(targets, `127.0.0.1 ${port}\n`);
      }
      await sleep(1);
    }
  })();
  try {
    await waitUntilHealthy(svc, 90_000);
    await sleep(500); // and a little after
  } finally {
    watching = false;
    await watch;
    fs.writeFileSync(stop, '');
  }
  const result = await attack;
  if (result.code !== 0) {
    throw new Error(`the attacker script failed (${result.code}): ${result.stderr}`);
  }
  return { svc, ports: [...seen].sort((a, b) => a - b), report: JSON.parse(result.stdout) };
}

const asRoot = canActAsAnotherUser();
const describeAsRoot = asRoot ? describe : describe.skip;

describeAsRoot(`the embedded database, attacked by another OS user (${ATTACKER})`, () => {
  let dir: string;
  let dataDir: string;
  let svc: ServiceProcess;
  let alice: { id: string; username: string; token: string };

  beforeAll(() => {
    ensureAttacker();
    dir = tempDir('sg-takeover-');
    fs.chmodSync(dir, 0o755); // only DATA_DIR stands between the attacker and the database
    dataDir = path.join(dir, 'data');
  });
  afterAll(async () => {
    await svc?.stop();
  }, 30_000);

  it('opens no TCP port but HTTP while it starts, and nothing it serves lets the attacker in', async () => {
    const attacked = await startUnderAttack(dir);
    svc = attacked.svc;
    // Before: a second, loopback port (PGlite, unauthenticated superuser) besides HTTP.
    expect(attacked.ports).toEqual([svc.port]);
    expect(listeningPortsOf(svc.pid)).toEqual([svc.port]);
    expect(attacked.report.tcp.map((t) => t.port)).toEqual([svc.port]);
    expect(attacked.report.tcp.filter((t) => t.ok)).toEqual([]);
    // The socket and the WAL were tried throughout: absent (ENOENT) until DATA_DIR existed, then
    // refused for lack of permission; never connected, never read.
    const { socket, files } = attacked.report;
    expect(socket.connected).toBe(0);
    expect(socket.attempts).toBeGreaterThan(10);
    expect(socket.errors.EACCES).toBeGreaterThan(0);
    expect(Object.keys(socket.errors).filter((code) => code !== 'ENOENT')).toEqual(['EACCES']);
    expect(files.read).toBe(0);
    expect(files.errors.EACCES).toBeGreaterThan(0);
    expect(Object.keys(files.errors).filter((code) => code !== 'ENOENT')).toEqual(['EACCES']);
    expect(svc.output()).toContain(`on the Unix socket ${path.join(dataDir, SOCKET_NAME)}`);
    // a fresh DATA_DIR is created private: nothing to report as tightened
    expect(svc.output()).not.toMatch(/tightened/);
  }, 180_000);

  it('serves the database on a 0600 socket in the 0700 DATA_DIR, and every file is 0600', () => {
    const socket = path.join(dataDir, SOCKET_NAME);
    const stat = fs.lstatSync(socket);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
    expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
    const loose = modesUnder(dataDir).filter(
      (e) => (e.kind === 'dir' && e.mode !== 0o700) || (e.kind !== 'dir' && e.mode !== 0o600),
    );
    expect(loose).toEqual([]);
    expect(modesUnder(dataDir).length).toBeGreaterThan(900); // PGlite's files are all there
  });

  it('refuses psql from the attacker on every port of the service and on the socket', async () => {
    const ports = listeningPortsOf(svc.pid);
    expect(ports).toEqual([svc.port]);
    for (const port of ports) {
      const res = await psqlAsAttacker(['-h', '127.0.0.1', '-p', String(port)]);
      expect(res.code).not.toBe(0);
      expect(res.stdout).toBe('');
    }
    const res = await psqlAsAttacker(['-h', dataDir, '-p', '5432']);
    expect(res.code).not.toBe(0);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/Permission denied/);

    // Control: the socket is live — the service's own user can connect to it (the one
    // connection is the service's, so the server then turns this one away).
    const connected = await new Promise<boolean>((resolve) => {
      const s = net.connect(path.join(dataDir, SOCKET_NAME));
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    expect(connected).toBe(true);
  });

  it('does not let the attacker read the WAL or data files, list DATA_DIR or write pg_hba.conf', async () => {
    const wal = walSegment(dataDir);
    const hba = path.join(dataDir, 'pglite', 'pg_hba.conf');
    const before = fs.readFileSync(hba, 'utf8');
    const control = path.join(dataDir, 'pglite', 'global', 'pg_control');
    for (const file of [wal, control]) {
      const read = await runAsAttacker('head', ['-c', '64', file]);
      expect(read.code).not.toBe(0);
      expect(read.stderr).toMatch(/Permission denied/);
      expect(fs.statSync(file).size).toBeGreaterThan(0); // control: it is there to read
    }
    const list = await runAsAttacker('ls', [dataDir]);
    expect(list.code).not.toBe(0);
    expect(list.stderr).toMatch(/Permission denied/);
    const write = await runAsAttacker('sh', [
      '-c',
      `echo 'host all all 0.0.0.0/0 trust' >> '${hba}'`,
    ]);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/Permission denied/);
    expect(fs.readFileSync(hba, 'utf8')).toBe(before);
  });

  it('still registers, logs in and answers /me', async () => {
    alice = await registerAndLogin(svc.base, 'alice');
    const me = await request(svc.base, 'GET', '/me', { token: alice.token });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ id: alice.id, username: alice.username, role: 'user' });
  });

  it('tightens a 0755 DATA_DIR with 0666 files at start, logs it, and keeps the data', async () => {
    expect(await svc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(path.join(dataDir, SOCKET_NAME))).toBe(false); // removed on stop

    // As an older version left it: now the attacker can read the WAL and write pg_hba.conf.
    loosen(dataDir);
    const wal = walSegment(dataDir);
    expect((await runAsAttacker('head', ['-c', '64', wal])).code).toBe(0);
    const files = modesUnder(dataDir).filter((e) => e.kind === 'file').length;
    const dirs = modesUnder(dataDir).filter((e) => e.kind === 'dir').length;

    const attacked = await startUnderAttack(dir);
    svc = attacked.svc;
    expect(attacked.ports).toEqual([svc.port]);
    expect(attacked.report.tcp.filter((t) => t.ok)).toEqual([]);
    expect(attacked.report.socket.connected).toBe(0);
    // The directory is tightened before the database is opened: from the first poll on (the
    // attacker started before the service) at most a read that began before the chmod.
    expect(attacked.report.files.errors.EACCES).toBeGreaterThan(0);

    const warnings = svc.stderr();
    expect(warnings).toContain(
      `warning: DATA_DIR was open to other users: tightened ${dataDir} from 0755 to 0700`,
    );
    expect(warnings).toContain(
      `tightened ${dirs} directories under ${dataDir} from 0755 to 0700 (e.g. `,
    );
    expect(warnings).toContain(
      `tightened ${files} files under ${dataDir} from 0666 to 0600 (e.g. `,
    );
    const loose = modesUnder(dataDir).filter(
      (e) => (e.kind === 'dir' && e.mode !== 0o700) || (e.kind !== 'dir' && e.mode !== 0o600),
    );
    expect(loose).toEqual([]);
    const read = await runAsAttacker('head', ['-c', '64', wal]);
    expect(read.code).not.toBe(0);

    // the data survived: the same user logs in, and a token issued before the restart works
    const me = await request(svc.base, 'GET', '/me', { token: alice.token });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ id: alice.id, username: alice.username, role: 'user' });
    const login = await request(svc.base, 'POST', '/auth/login', {
      body: { username: alice.username, password: 'correct-horse-battery' },
    });
    expect(login.status).toBe(200);
  }, 180_000);

  it('starts again after a SIGKILL left its socket behind', async () => {
    expect(await svc.kill()).toEqual({ code: null, signal: 'SIGKILL' });
    expect(fs.lstatSync(path.join(dataDir, SOCKET_NAME)).isSocket()).toBe(true); // stale
    svc = await startService({ dir, env: EMBEDDED, lifetime: 'file', healthTimeoutMs: 90_000 });
    expect(listeningPortsOf(svc.pid)).toEqual([svc.port]);
    expect((await request(svc.base, 'GET', '/me', { token: alice.token })).status).toBe(200);
  }, 120_000);
});
