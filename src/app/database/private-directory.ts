import fs from 'node:fs';
import path from 'node:path';

/** Directories only their owner may enter; files only their owner may read or write. */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** A permission that was wider than allowed and was tightened. */
export interface TightenedMode {
  path: string;
  kind: 'directory' | 'file';
  from: string;
  to: string;
}

/**
 * Creates `dir` (and missing parents) 0700, or tightens an existing one to 0700, whatever the
 * umask: the mode is set with chmod after mkdir. Refuses a path that is not a directory, or one
 * owned by another user (who could loosen it again), naming the fix. Returns what was tightened.
 */
export function ensurePrivateDirectory(dir: string, setting: string): TightenedMode[] {
  if (!fs.existsSync(dir)) fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const stat = fs.statSync(dir);
  if (!stat.isDirectory()) {
    throw new Error(
      `${setting} ${dir} is not a directory: remove it or point ${setting} elsewhere`,
    );
  }
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    throw new Error(
      `${setting} ${dir} belongs to uid ${stat.uid}, not to this process (uid ${uid}), who could ` +
        `open it to other users again: \`chown -R ${uid} ${dir}\` or point ${setting} elsewhere`,
    );
  }
  const tightened: TightenedMode[] = [];
  tighten(dir, 'directory', tightened);
  return tightened;
}

/**
 * Tightens everything under `dir`: directories to 0700, files (and sockets) to 0600. Symbolic
 * links are neither followed nor changed. Returns what was wider than that.
 */
export function tightenTree(dir: string): TightenedMode[] {
  const tightened: TightenedMode[] = [];
  const walk = (current: string) => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const target = path.join(current, entry.name);
      if (entry.isSymbolicLink()) continue;
      if (entry.isDirectory()) {
        tighten(target, 'directory', tightened);
        walk(target);
      } else {
        tighten(target, 'file', tightened);
      }
    }
  };
  walk(dir);
  return tightened;
}

/**
 * One log line per kind of change, not per file (a PGlite directory holds ~1,000 files):
 * "tightened /srv/data from 0755 to 0700", "tightened 969 files under /srv/data from 0666 to
 * 0600 (e.g. pglite/pg_hba.conf)".
 */
export function describeTightened(root: string, tightened: TightenedMode[]): string[] {
  const groups = new Map<string, TightenedMode[]>();
  for (const t of tightened) {
    const key = `${t.path === root ? 'root' : t.kind} ${t.from} ${t.to}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  return [...groups.values()].map((group) => {
    const [first] = group;
    const change = `from ${first.from} to ${first.to}`;
    if (first.path === root) return `tightened ${root} ${change}`;
    const example = path.relative(root, first.path);
    if (group.length === 1) return `tightened ${example} under ${root} ${change}`;
    const what = `${group.length} ${first.kind === 'file' ? 'files' : 'directories'}`;
    return `tightened ${what} under ${root} ${change} (e.g. ${example})`;
  });
}

function tighten(target: string, kind: TightenedMode['kind'], tightened: TightenedMode[]): void {
  const mode = kind === 'directory' ? PRIVATE_DIR_MODE : PRIVATE_FILE_MODE;
  const current = fs.lstatSync(target).mode & 0o777;
  if ((current & ~mode) === 0) return;
  fs.chmodSync(target, mode);
  tightened.push({ path: target, kind, from: octal(current), to: octal(mode) });
}

const octal = (mode: number) => mode.toString(8).padStart(4, '0');
