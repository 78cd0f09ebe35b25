import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './stats.js';

/** The reference service plus the bench-only routes (see service-main.ts), compiled. */
const SERVICE_MAIN = fileURLToPath(new URL('../service-main.js', import.meta.url));
/** host_overhead's sides: a samples-shaped host app with or without strikeguard. */
export const HOST_APP_MAIN = fileURLToPath(new URL('../host-app-main.js', import.meta.url));
/** peer_nest's baseline: a plain Nest app doing GET /me's work (see peer-nest-main.ts). */
export const PEER_NEST_MAIN = fileURLToPath(new URL('../peer-nest-main.js', import.meta.url));

export interface BenchService {
  base: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  /** Resident set size now, and the kernel's high-water mark (VmHWM), in MiB. */
  rss(): { rss: number; hwm: number };
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function readRss(pid: number): { rss: number; hwm: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

/**
 * Starts the compiled service as its own process (only the variables set here: nothing leaks in
 * from the caller's environment) and waits until GET /health answers 200.
 */
export async function startService(
  dir: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
  main = SERVICE_MAIN,
): Promise<BenchService> {
  const port = await freePort();
  const logFile = path.join(
    dir,
    main === SERVICE_MAIN ? 'service.log' : `${path.basename(main, '.js')}.log`,
  );
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [...nodeArgs, main], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? dir,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      DATA_DIR: path.join(dir, 'data'),
      ...env,
    },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const base = `http://127.0.0.1:${port}`;
  const tail = () => fs.readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited) throw new Error(`the service exited before it was healthy:\n${tail()}`);
    try {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the service was not healthy within 120 s:\n${tail()}`);
    }
    await sleep(100);
  }
  return {
    base,
    pid: child.pid!,
    child,
    logFile,
    rss: () => readRss(child.pid!),
    async stop() {
      if (exited) return;
      const done = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await done;
      clearTimeout(timer);
    },
  };
}

/** Samples a process's RSS every 100 ms while `work` runs; answers the peak seen, in MiB. */
export async function withRssPeak<T>(
  pid: number,
  work: () => Promise<T>,
): Promise<{ result: T; peakRss: number }> {
  let peak = readRss(pid).rss;
  const timer = setInterval(() => {
    const { rss } = readRss(pid);
    if (rss > peak) peak = rss;
  }, 100);
  try {
    const result = await work();
    const { rss } = readRss(pid);
    return { result, peakRss: Math.max(peak, rss) };
  } finally {
    clearInterval(timer);
  }
}
