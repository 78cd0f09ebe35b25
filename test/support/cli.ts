import { spawn } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from './service-process.js';

/** The compiled CLI (`npm test` builds it first). */
export const CLI = path.join(PROJECT_ROOT, 'dist', 'src', 'cli', 'main.js');

/** Runs the CLI as the security team would, with only the given environment. */
export function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
