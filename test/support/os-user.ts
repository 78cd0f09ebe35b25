import { execFileSync, spawn } from 'node:child_process';

/** The unprivileged local account the attack tests act as (created when missing, as root). */
export const ATTACKER = 'sgattacker';

/**
 * Whether this run can act as another OS user: it must be root (to create the account and to
 * switch to it with runuser). Otherwise the suites that need it are skipped, loudly; with CI=true
 * that is a failure instead.
 */
export function canActAsAnotherUser(): boolean {
  if (process.getuid?.() !== 0) {
    const message =
      `*** Not root: the suites that attack as another OS user (${ATTACKER}) are SKIPPED.\n` +
      '*** Run them as root (they create that account with useradd when it is missing).';
    if (process.env.CI === 'true') throw new Error(`${message}\nCI=true: skipped suites fail.`);
    console.warn(message);
    return false;
  }
  return true;
}

/** Creates the attacker account when it does not exist; returns its uid. */
export function ensureAttacker(): number {
  try {
    return Number(execFileSync('id', ['-u', ATTACKER], { encoding: 'utf8' }).trim());
  } catch {
    execFileSync('useradd', ['-m', ATTACKER]);
    return Number(execFileSync('id', ['-u', ATTACKER], { encoding: 'utf8' }).trim());
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command as the attacker (`runuser -u sgattacker -- …`), with a clean environment. */
export function runAsAttacker(
  command: string,
  args: string[],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn('runuser', ['-u', ATTACKER, '--', command, ...args], {
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: `/home/${ATTACKER}`, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
