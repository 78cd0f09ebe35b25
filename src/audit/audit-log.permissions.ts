import fs from 'node:fs';

/** Modes of the restricted log: the directory 0700, every file 0600, from creation on. */
export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** A permission that was wider than allowed at start and was tightened. */
export interface TightenedMode {
  path: string;
  from: string;
  to: string;
}

/** Narrows `target` to `mode` when it allows more; records what it was. */
export function tighten(target: string, mode: number, tightened: TightenedMode[]): void {
  const current = fs.statSync(target).mode & 0o777;
  if ((current & ~mode) === 0) return;
  fs.chmodSync(target, mode);
  tightened.push({
    path: target,
    from: current.toString(8).padStart(4, '0'),
    to: mode.toString(8).padStart(4, '0'),
  });
}
