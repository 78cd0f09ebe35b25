import { execFile } from 'node:child_process';
import fs from 'node:fs';

/** Debian's Chromium (`apt-get install chromium`); null when it is not installed. */
export function findChromium(): string | null {
  for (const candidate of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (fs.existsSync(candidate)) return candidate;
  }
  return null;
}

export interface LoadedPage {
  /** The DOM after the page's scripts ran (`--dump-dom`). */
  dom: string;
  /** What the page logged to its console, Content-Security-Policy violations included. */
  console: string[];
}

/** Loads `url` in headless Chromium, lets its scripts run for `budgetMs` of virtual time. */
export function loadPage(chromium: string, url: string, budgetMs = 8000): Promise<LoadedPage> {
  return new Promise((resolve, reject) => {
    execFile(
      chromium,
      [
        '--headless=new',
        '--no-sandbox', // runs as root here
        '--disable-gpu',
        '--enable-logging=stderr',
        '--v=1',
        `--virtual-time-budget=${budgetMs}`,
        '--dump-dom',
        url,
      ],
      { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`chromium failed: ${error.message}\n${stderr}`));
        const console = stderr
          .split('\n')
          .filter((line) => line.includes(':CONSOLE'))
          .map((line) => line.replace(/^.*?:CONSOLE(?::\d+)?\]\s*/, ''));
        resolve({ dom: stdout, console });
      },
    );
  });
}
