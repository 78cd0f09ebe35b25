import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { acquireInstanceLock, type InstanceLock } from '../../src/common/instance-lock.js';
import { PID_NAMESPACE, PROJECT_ROOT } from '../support/service-process.js';

/**
 * The single-writer lock (src/common/instance-lock.ts) between processes, several of them pid 1 of
 * PID namespaces of their own (`unshare --pid`, as containers sharing a volume): a live holder is
 * never taken over, a dead or frozen one only once its heartbeat has stopped for staleAfterMs.
 * The children run the compiled module (`npm run build`).
 */

const canUnshare = process.getuid?.() === 0 && fs.existsSync('/usr/bin/unshare');
const describeNamespaces = canUnshare ? describe : describe.skip;

const HEARTBEAT_MS = 100;
const STALE_AFTER_MS = 600;
const LOCK_MODULE = pathToFileURL(path.join(PROJECT_ROOT, 'dist/src/common/instance-lock.js'));

/** Takes the lock, prints what happened as JSON lines, holds it until SIGTERM (then releases). */
const HOLDER = `
const { acquireInstanceLock } = await import(${JSON.stringify(LOCK_MODULE.href)});
const [file, heartbeatMs, staleAfterMs] = process.argv.slice(1);
const say = (event) => console.log(JSON.stringify(event));
const started = performance.now();
try {
  const lock = await acquireInstanceLock(file, {
    heartbeatMs: Number(heartbeatMs),
    staleAfterMs: Number(staleAfterMs),
    describeHolder: (holder) => 'held by ' + JSON.stringify(holder),
    onLost: (error) => say({ event: 'lost', message: error.message }),
  });
  say({ event: 'held', pid: process.pid, takeover: lock.takeover, ms: performance.now() - started });
  process.on('SIGTERM', async () => {
    await lock.release();
    say({ event: 'released' });
    process.exit(0);
  });
  setInterval(() => undefined, 1000);
} catch (error) {
  say({ event: 'refused', message: error.message, ms: performance.now() - started });
  process.exit(3);
}
`;

interface Event {
  event: 'held' | 'refused' | 'lost' | 'released';
  [key: string]: any;
}

interface Holder {
  child: ChildProcess;
  /** The next event it prints (in order). */
  next(timeoutMs?: number): Promise<Event>;
  /** The pid of the node process itself (inside `unshare`, the wrapper's child). */
  nodePid(): number;
  exited: Promise<void>;
}

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function lockFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-lock-'));
  dirs.push(dir);
  return path.join(dir, '.audit.log.lock');
}

function startHolder(file: string, options: { namespace: boolean }): Holder {
  const command = [
    ...(options.namespace ? PID_NAMESPACE : []),
    process.execPath,
    '--input-type=module',
    '-e',
    HOLDER,
    file,
    String(HEARTBEAT_MS),
    String(STALE_AFTER_MS),
  ];
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const events: Event[] = [];
  let wake: (() => void) | null = null;
  let buffer = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      events.push(JSON.parse(buffer.slice(0, nl)));
      buffer = buffer.slice(nl + 1);
      wake?.();
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    exited,
    async next(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length === 0) {
        if (Date.now() > deadline) throw new Error('no event from the holder');
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
      return events.shift()!;
    },
    nodePid() {
      if (!options.namespace) return child.pid!;
      const kids = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8');
      return Number(kids.trim().split(/\s+/)[0]);
    },
  };
}

const nonceOf = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')).nonce as string;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeNamespaces('the instance lock across PID namespaces', () => {
  it('never lets a live holder in another namespace be taken over, however long it holds', async () => {
    const file = lockFile();
    const holder = startHolder(file, { namespace: true });
    expect(await holder.next()).toMatchObject({ event: 'held', pid: 1, takeover: null });
    const nonce = nonceOf(file);

    // Well past staleAfterMs, from other namespaces (pid 1 too) and from this one (where pid 1
    // is init, alive, and unrelated).
    for (let round = 0; round < 3; round++) {
      await sleep(STALE_AFTER_MS);
      for (const namespace of [true, false]) {
        const challenger = startHolder(file, { namespace });
        const outcome = await challenger.next();
        expect(outcome).toMatchObject({ event: 'refused' });
        expect(JSON.parse(outcome.message.replace('held by ', ''))).toMatchObject({
          pid: 1,
          elsewhere: true,
        });
        await challenger.exited;
      }
    }
    expect(nonceOf(file)).toBe(nonce);
  }, 60_000);

  it('takes the lock of a holder SIGKILLed in another namespace only after its heartbeat stopped', async () => {
    const file = lockFile();
    const first = startHolder(file, { namespace: true });
    expect(await first.next()).toMatchObject({ event: 'held' });
    const stale = nonceOf(file);
    first.child.kill('SIGKILL'); // --kill-child: its pid 1 gets SIGKILL as well
    await first.exited;

    const second = startHolder(file, { namespace: true });
    const held = await second.next();
    expect(held).toMatchObject({
      event: 'held',
      takeover: { reason: 'heartbeat-stopped', holder: { pid: 1, elsewhere: true } },
    });
    expect(held.ms).toBeGreaterThanOrEqual(STALE_AFTER_MS); // it watched the line for that long
    expect(nonceOf(file)).not.toBe(stale);
  }, 30_000);

  it('gives a stale lock to exactly one of several challengers racing for it', async () => {
    const file = lockFile();
    const first = startHolder(file, { namespace: true });
    expect(await first.next()).toMatchObject({ event: 'held' });
    first.child.kill('SIGKILL');
    await first.exited;

    const challengers = Array.from({ length: 4 }, () => startHolder(file, { namespace: true }));
    const outcomes = await Promise.all(challengers.map((c) => c.next()));
    expect(outcomes.map((o) => o.event).sort()).toEqual(['held', 'refused', 'refused', 'refused']);
  }, 30_000);

  it('a holder frozen past staleAfterMs loses the lock, says so when it runs again, and leaves the new lock alone', async () => {
    const file = lockFile();
    const frozen = startHolder(file, { namespace: false });
    expect(await frozen.next()).toMatchObject({ event: 'held' });
    process.kill(frozen.nodePid(), 'SIGSTOP');

    const next = startHolder(file, { namespace: true });
    expect(await next.next()).toMatchObject({
      event: 'held',
      takeover: { reason: 'heartbeat-stopped' },
    });
    const nonce = nonceOf(file);

    process.kill(frozen.nodePid(), 'SIGCONT');
    const lost = await frozen.next();
    expect(lost).toMatchObject({ event: 'lost' });
    expect(lost.message).toMatch(/taken over by process 1 on .* \(another PID namespace or host\)/);
    frozen.child.kill('SIGTERM');
    expect(await frozen.next()).toMatchObject({ event: 'released' });
    expect(nonceOf(file)).toBe(nonce); // its release did not remove the new holder's lock
  }, 30_000);

  it('takes at once the lock of a holder that exited in this very namespace (its pid checks out)', async () => {
    const file = lockFile();
    const first = startHolder(file, { namespace: false });
    expect(await first.next()).toMatchObject({ event: 'held' });
    first.child.kill('SIGKILL');
    await first.exited;

    const second = startHolder(file, { namespace: false });
    expect(await second.next()).toMatchObject({
      event: 'held',
      takeover: { reason: 'holder-exited', holder: { pid: first.child.pid, elsewhere: false } },
    });
  }, 30_000);
});

describe('the instance lock within one process', () => {
  let held: InstanceLock[] = [];
  afterEach(async () => {
    for (const lock of held) await lock.release();
    held = [];
  });
  const options = { describeHolder: () => 'held here', heartbeatMs: 50, staleAfterMs: 200 };

  it('refuses a second acquisition of a lock it holds, also through another path to the file', async () => {
    const file = lockFile();
    held.push(await acquireInstanceLock(file, options));
    await expect(acquireInstanceLock(file, options)).rejects.toThrow('held here');
    const alias = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sg-lock-alias-')), 'dir');
    dirs.push(path.dirname(alias));
    fs.symlinkSync(path.dirname(file), alias);
    await expect(
      acquireInstanceLock(path.join(alias, path.basename(file)), options),
    ).rejects.toThrow('held here');
  });

  it('releases only its own lock and can take it again afterwards', async () => {
    const file = lockFile();
    const lock = await acquireInstanceLock(file, options);
    await lock.release();
    expect(fs.existsSync(file)).toBe(false);
    held.push(await acquireInstanceLock(file, options));
    expect(fs.existsSync(file)).toBe(true);
  });
});
