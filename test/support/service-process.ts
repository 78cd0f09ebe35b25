import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from './http.js';

/** The repository root, and the compiled service `npm test` builds before jest starts. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SERVICE_MAIN = path.join(PROJECT_ROOT, 'dist', 'src', 'app', 'main.js');

/** 48 characters: what every process gets unless told otherwise, so tokens work across them. */
export const SERVICE_JWT_SECRET = 'service-process-test-secret-0123456789abcdef0123';

/**
 * Variables the service reads (and any it may add under these prefixes). They are never inherited
 * from the test runner's environment (a DATABASE_URL or NODE_ENV=test there must not leak into the
 * child): only `options.env` and the defaults below set them.
 */
const SERVICE_VARIABLE =
  /^(PORT|HOST|NODE_ENV|LOG_LEVEL|TRUST_PROXY|DATA_DIR|(DATABASE|JWT|ADMIN|AUDIT|STRIKE|STRIKES|DOCS|METRICS|LOGIN|ALERT)_\w+|LOGIN_THROTTLE)$/;

export interface ServiceOptions {
  /**
   * Environment of the child on top of the defaults (LOG_LEVEL=warn, JWT_SECRET, PORT, DATA_DIR,
   * AUDIT_LOG_DIR); `undefined` removes a variable, e.g. `{ JWT_SECRET: undefined }`.
   */
  env?: Record<string, string | undefined>;
  /**
   * Working directory holding `data/` (DATA_DIR) and `audit/` (AUDIT_LOG_DIR): pass a previous
   * process's `dir` to restart on its data. Default: a fresh temp dir, removed after the test file.
   */
  dir?: string;
  /** Default: a free port. */
  port?: number;
  /**
   * When the helper SIGKILLs the process if it is still running: after the test that started it
   * (`test`, the default inside a test or a beforeEach), or after the test file (`file`, the
   * default in a beforeAll; use it for a process a later test goes on with).
   */
  lifetime?: 'test' | 'file';
  /** How long `startService` waits for GET /health to answer 200. */
  healthTimeoutMs?: number;
  /**
   * A command the service runs under, e.g. `PID_NAMESPACE` (its own PID namespace, as in a
   * container). `pid` is then the wrapper's, and signals go to the wrapper.
   */
  wrap?: string[];
}

/**
 * Runs the service as pid 1 of a PID namespace of its own (and a /proc to match), as a container
 * does. `unshare` does not pass SIGTERM on: `kill()` it, and `--kill-child` SIGKILLs the service
 * (and its namespace) with it. Needs root.
 */
export const PID_NAMESPACE = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'];

export interface ServiceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServiceProcess {
  /** `http://127.0.0.1:<port>` */
  base: string;
  port: number;
  /** The working directory; DATA_DIR and AUDIT_LOG_DIR default to `data/` and `audit/` in it. */
  dir: string;
  /** DATA_DIR as given to the process. */
  dataDir: string;
  /** The environment variables this helper set for the service (not the inherited rest). */
  env: Record<string, string>;
  child: ChildProcess;
  pid: number;
  /** Resolves (never rejects) once the process has exited and its output is complete. */
  exited: Promise<ServiceExit>;
  /** The exit, or null while the process runs. */
  exit(): ServiceExit | null;
  /** stdout and stderr as they arrived, interleaved. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** The last lines of output(), for error messages. */
  tail(lines?: number): string;
  /** Sends `signal` and resolves when the process has exited; SIGKILLs it and throws if it hangs. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ServiceExit>;
  /** SIGKILL, resolves when the process has exited. */
  kill(): Promise<ServiceExit>;
  /** Resolves when the process exits by itself; SIGKILLs it and throws after `timeoutMs`. */
  waitForExit(timeoutMs?: number): Promise<ServiceExit>;
}

// ---------------------------------------------------------------------------------------------
// Cleanup. Every process is tracked from spawn to exit. One started inside a test (or a
// beforeEach) is SIGKILLed after that test; one started in a beforeAll lives until the end of the
// test file. Temp dirs go with the test file. A last resort kills whatever is left when the jest
// worker exits, so no service outlives the run.

interface Tracked {
  service: ServiceProcess;
  perTest: boolean;
}

const live = new Set<Tracked>();
const tempDirs = new Set<string>();
let inTest = false;

async function killTracked(which: (t: Tracked) => boolean): Promise<void> {
  await Promise.all(
    [...live].filter(which).map(async (t) => {
      await t.service.kill();
      live.delete(t);
    }),
  );
}

function removeTempDirs(): void {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Last resort, when the jest worker exits with services still running (a hook timed out...). */
function onWorkerExit(): void {
  for (const t of live) if (!t.service.exit()) t.service.child.kill('SIGKILL');
  removeTempDirs();
}
process.once('exit', onWorkerExit);

if (typeof beforeEach === 'function' && typeof afterAll === 'function') {
  beforeEach(() => {
    inTest = true;
  });
  afterEach(async () => {
    inTest = false;
    await killTracked((t) => t.perTest);
  });
  afterAll(async () => {
    try {
      await killTracked(() => true);
    } finally {
      removeTempDirs();
      process.off('exit', onWorkerExit);
    }
  });
}

// ---------------------------------------------------------------------------------------------

/** A port nothing listens on right now (on every interface, as the service binds). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A fresh temp dir, removed after the test file. */
export function tempDir(prefix = 'strikeguard-svc-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MAX_OUTPUT = 1_000_000;

/** Spawns the compiled service and returns at once, without waiting for it to serve. */
export async function spawnService(options: ServiceOptions = {}): Promise<ServiceProcess> {
  if (!fs.existsSync(SERVICE_MAIN)) {
    throw new Error(`${SERVICE_MAIN} does not exist: run \`npm run build\` (npm test does it)`);
  }
  const dir = options.dir ?? tempDir();
  const port = options.port ?? (await freePort());
  const set: Record<string, string | undefined> = {
    PORT: String(port),
    LOG_LEVEL: 'warn',
    JWT_SECRET: SERVICE_JWT_SECRET,
    DATA_DIR: path.join(dir, 'data'),
    AUDIT_LOG_DIR: path.join(dir, 'audit'),
    ...options.env,
  };
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !SERVICE_VARIABLE.test(name)) env[name] = value;
  }
  const own: Record<string, string> = {};
  for (const [name, value] of Object.entries(set)) {
    if (value === undefined) delete env[name];
    else env[name] = own[name] = value;
  }

  // The working directory is the temp dir: any relative default path stays out of the repository.
  const [command, ...args] = [...(options.wrap ?? []), process.execPath, SERVICE_MAIN];
  const child = spawn(command, args, {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  let all = '';
  let out = '';
  let err = '';
  const cap = (s: string) => (s.length > MAX_OUTPUT ? s.slice(-MAX_OUTPUT) : s);
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    all = cap(all + chunk);
    out = cap(out + chunk);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    all = cap(all + chunk);
    err = cap(err + chunk);
  });

  let exit: ServiceExit | null = null;
  const exited = new Promise<ServiceExit>((resolve) => {
    child.once('error', (error) => {
      // spawn itself failed: there will be no 'close'
      all += `\n[spawn failed: ${error.message}]`;
      exit ??= { code: null, signal: null };
      resolve(exit);
    });
    child.once('close', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });

  const tail = (lines = 40) => all.trimEnd().split('\n').slice(-lines).join('\n');
  const waitForExit = async (timeoutMs = 30_000): Promise<ServiceExit> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    const result = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    if (result) return result;
    child.kill('SIGKILL');
    await exited;
    throw new Error(
      `service pid ${child.pid} did not exit within ${timeoutMs} ms (now SIGKILLed); output:\n${tail()}`,
    );
  };

  const service: ServiceProcess = {
    base: `http://127.0.0.1:${port}`,
    port,
    dir,
    dataDir: path.resolve(dir, own.DATA_DIR ?? path.join(dir, 'data')),
    env: own,
    child,
    pid: child.pid ?? -1,
    exited,
    exit: () => exit,
    output: () => all,
    stdout: () => out,
    stderr: () => err,
    tail,
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000) {
      if (exit) return exit;
      child.kill(signal);
      try {
        return await waitForExit(timeoutMs);
      } catch (error) {
        throw new Error(`after ${signal}: ${(error as Error).message}`, { cause: error });
      }
    },
    async kill() {
      if (exit) return exit;
      child.kill('SIGKILL');
      return exited;
    },
    waitForExit,
  };

  const tracked: Tracked = {
    service,
    perTest: (options.lifetime ?? (inTest ? 'test' : 'file')) === 'test',
  };
  live.add(tracked);
  void exited.then(() => live.delete(tracked));
  return service;
}

/** "exited with code 1", "was killed by SIGKILL". */
export function describeExit(exit: ServiceExit): string {
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/**
 * Resolves once GET /health answers 200. Throws, with the tail of the process output, if the
 * process exits first or `timeoutMs` passes (then the process is SIGKILLed).
 */
export async function waitUntilHealthy(service: ServiceProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const exit = service.exit();
    if (exit) {
      throw new Error(
        `service pid ${service.pid} ${describeExit(exit)} before /health answered 200; output:\n${service.tail()}`,
      );
    }
    try {
      const res = await fetch(`${service.base}/health`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  await service.kill();
  throw new Error(
    `service pid ${service.pid} was not healthy within ${timeoutMs} ms (last: ${last}; now SIGKILLed); output:\n${service.tail()}`,
  );
}

/**
 * Spawns the compiled service and waits until it serves GET /health with 200. When the port was
 * picked here and another process took it in the meantime, it retries on another port.
 */
export async function startService(options: ServiceOptions = {}): Promise<ServiceProcess> {
  for (let attempt = 1; ; attempt++) {
    const service = await spawnService(options);
    try {
      await waitUntilHealthy(service, options.healthTimeoutMs);
      return service;
    } catch (error) {
      await service.kill();
      const portTaken = /EADDRINUSE/.test(service.output()) && options.port === undefined;
      if (!portTaken || attempt >= 3) throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Users over HTTP. Deliberately not test-app.ts: that one loads src/ into jest, which suites of
// a spawned service neither need nor want (they test what `npm run build` produced).

export const PASSWORD = 'correct-horse-battery';

let counter = 0;

/** A username no other test uses (3-64 of A-Za-z0-9._-). */
export function uniqueUsername(prefix = 'user'): string {
  return `${prefix}${Date.now().toString(36)}${process.pid.toString(36)}${(counter++).toString(36)}`;
}

/** Registers and logs in a fresh user on a running service. */
export async function registerAndLogin(
  base: string,
  prefix = 'user',
): Promise<{ id: string; username: string; token: string }> {
  const username = uniqueUsername(prefix);
  const reg = await request(base, 'POST', '/auth/register', {
    body: { username, password: PASSWORD },
  });
  if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${reg.text}`);
  const login = await request(base, 'POST', '/auth/login', {
    body: { username, password: PASSWORD },
  });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${login.text}`);
  return { id: reg.body.id, username, token: login.body.accessToken };
}
