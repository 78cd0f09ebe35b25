import path from 'node:path';
import {
  AuditQueryInvalidError,
  type AuditRecord,
  defaultInstanceId,
  listLogFiles,
  type LogFileShare,
  verifyLogDirectory,
  type VerifyResult,
} from '../reader.js';
import { type AuditSource } from './audit-source.js';
import { CliError } from './cli-error.js';

export interface Output {
  out(line: string): void;
  progress(line: string): void;
}

/** `audit verify`: exit 0 when the chain (and the log file, if given) holds, 1 when it does not. */
export async function verifyCommand(
  source: AuditSource | null,
  options: {
    fromId?: number;
    toId?: number;
    logDir?: string;
    logFile?: string;
    instanceId?: string;
  },
  io: Output,
): Promise<number> {
  let result: VerifyResult;
  const progress = (n: number) => io.progress(`verified ${n} records…`);
  if (!source) {
    if (!options.logDir)
      throw new CliError('audit verify needs DATABASE_URL, --url with --token, or --log-dir');
    result = await verifyLogDirectory(options.logDir, progress);
  } else {
    let share: LogFileShare | null = null;
    if (options.logDir) {
      const file = options.logFile ?? 'audit.log';
      const files = listLogFiles(options.logDir, file);
      if (files.length === 0) throw new CliError(`no log file ${file} in ${options.logDir}`);
      share = {
        instanceId: options.instanceId ?? defaultInstanceId(options.logDir, path.basename(file)),
        files,
        lastId: Number.MAX_SAFE_INTEGER,
      };
    }
    result = await source.verify({ fromId: options.fromId, toId: options.toId }, share, progress);
  }
  io.out(JSON.stringify(result));
  return result.ok ? 0 : 1;
}

/** `audit search`: matching records as JSON Lines, newest first, up to --limit. */
export async function searchCommand(
  source: AuditSource,
  params: Record<string, string>,
  io: Output,
): Promise<number> {
  try {
    const page = await source.search(params);
    for (const record of page.items) io.out(JSON.stringify(record));
    if (page.nextCursor) io.progress(`more records: --cursor ${page.nextCursor}`);
    return 0;
  } catch (error) {
    if (error instanceof AuditQueryInvalidError) throw new CliError(error.message);
    throw error;
  }
}

/** `audit export`: every matching record as JSON Lines, oldest first, paged so memory stays flat. */
export async function exportCommand(
  source: AuditSource,
  params: Record<string, string>,
  io: Output,
): Promise<number> {
  // Pages come newest first; walk them all by id, then print oldest first in bounded chunks.
  const ids: [number, number][] = [];
  let cursor: string | undefined;
  let upper: number | undefined;
  let count = 0;
  for (;;) {
    const page = await source.search({ ...params, limit: '1000', ...(cursor ? { cursor } : {}) });
    if (page.items.length) {
      const newest = page.items[0].id;
      const oldest = page.items[page.items.length - 1].id;
      upper ??= newest;
      ids.push([oldest, newest]);
    }
    count += page.items.length;
    io.progress(`scanned ${count} records…`);
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  // Second pass oldest first: each range re-read by cursor just above its newest id.
  for (const [, newest] of ids.reverse()) {
    const page = await source.search({
      ...params,
      limit: '1000',
      cursor: Buffer.from(`id:${newest + 1}`).toString('base64url'),
    });
    for (const record of [...page.items].reverse()) io.out(JSON.stringify(record));
  }
  io.progress(`exported ${count} records${upper ? ` (up to id ${upper})` : ''}`);
  return 0;
}

/** `audit tail [-n N] [-f]`: the last N records, oldest first; with -f, new ones as they come. */
export async function tailCommand(
  source: AuditSource,
  options: { count: number; follow: boolean; intervalMs: number; signal?: AbortSignal },
  io: Output,
): Promise<number> {
  const first = await source.search({ limit: String(options.count) });
  let lastId = 0;
  const print = (records: AuditRecord[]) => {
    for (const r of [...records].reverse()) {
      io.out(JSON.stringify(r));
      lastId = Math.max(lastId, r.id);
    }
  };
  print(first.items);
  while (options.follow && !options.signal?.aborted) {
    await new Promise((r) => setTimeout(r, options.intervalMs));
    // Everything newer than what was printed: page down from the newest until lastId is reached.
    const fresh: AuditRecord[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await source.search({ limit: '1000', ...(cursor ? { cursor } : {}) });
      const newer = page.items.filter((r) => r.id > lastId);
      fresh.push(...newer);
      if (newer.length < page.items.length || !page.nextCursor) break;
      cursor = page.nextCursor;
    }
    print(fresh);
  }
  return 0;
}
