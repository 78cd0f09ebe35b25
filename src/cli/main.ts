#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  exportCommand,
  type Output,
  searchCommand,
  tailCommand,
  verifyCommand,
} from './audit-commands.js';
import { type AuditSource, DatabaseSource, HttpSource } from './audit-source.js';
import { CliError } from './cli-error.js';
import {
  checkpointSource,
  checkpointVerifyCommand,
  keygenCommand,
  proveCommand,
  verifyFilesAgainstCheckpoint,
  verifyProofCommand,
  witnessServeCommand,
} from './transparency-commands.js';

const USAGE = `strikeguard — the security team's command line

Usage:
  strikeguard audit verify [--from-id N] [--to-id N] [--log-dir DIR [--log-file NAME] [--instance-id ID]]
  strikeguard audit search [--type T] [--user-id U] [--actor-id A] [--entity-type E] [--ip IP]
                           [--location L] [--outcome O] [--threat T] [--from DATE] [--to DATE]
                           [--details key=value ...] [--limit N] [--cursor C]
  strikeguard audit tail [-n N] [-f] [--interval MS]
  strikeguard audit export --format jsonl [search filters]
  strikeguard strikes unblock <userId> --reason TEXT      (DATABASE_URL; records the CLI user as actor)
  strikeguard strikes enroll-missing [--users-table T] [--id-column C]
                                                          (DATABASE_URL; a counter for every user without one)
  strikeguard login-throttle status <userId>              (DATABASE_URL; the user's login lanes and devices)
  strikeguard login-throttle clear <userId>               (DATABASE_URL; lifts every login block of the user,
                                                           hard stop included; recorded as auth.lockout_cleared)
  strikeguard audit keygen --origin NAME                  a new checkpoint signing key and its verifier key
  strikeguard audit checkpoint verify --vkey K [--vkey K2 …] [--witness VKEY … --quorum N] --state FILE
                                                          the latest checkpoint: signature, cosignatures, and
                                                          consistency with the one saved in FILE (saved only
                                                          moving forward; the first run trusts and saves it)
  strikeguard audit verify --log-dir DIR --checkpoint FILE --vkey K
                                                          the log files alone against a signed checkpoint:
                                                          their chain, and the RFC 9162 root of its records
  strikeguard audit prove <id> > record.tlog-proof        a C2SP tlog-proof of the record (latest checkpoint)
  strikeguard audit verify-proof --vkey K [--witness VKEY … --quorum N] PROOF RECORD.json
                                                          offline: the record (as GET /audit/events/:id gives
                                                          it) is in the signed, cosigned tree
  strikeguard witness keygen --name NAME                  a new witness (cosigner) key and its verifier key
  strikeguard witness serve --key @FILE --log ORIGIN=VKEY [--log …] --state FILE [--listen HOST:PORT]
                                                          a C2SP tlog-witness (POST /add-checkpoint); the key
                                                          also from WITNESS_KEY; default 127.0.0.1:8555

Where enroll-missing finds the users:
  --users-table T                  the host's users table, optionally schema.table (default users)
  --id-column C                    its id column, of any type: counters key on its text form (default id)

Where the audit trail is read:
  DATABASE_URL=postgres://…        straight from PostgreSQL
  --url URL --token TOKEN          through a running service (STRIKEGUARD_URL, STRIKEGUARD_TOKEN);
                                   the only way to reach the embedded database
  --log-dir DIR (verify only)      the log files alone, no database needed

Output is JSON Lines on stdout (one record per line; verify prints one result object); progress
goes to stderr. Exit codes: 0 ok, 1 verification failed, 2 usage or connection error;
checkpoint verify: 3 fork (the log does not extend the saved checkpoint: rewritten, cut or
rolled back), 4 a signature or cosignature does not verify, 5 fewer cosignatures than --quorum.`;

const FILTERS: Record<string, string> = {
  type: 'type',
  'user-id': 'userId',
  'actor-id': 'actorId',
  'entity-type': 'entityType',
  ip: 'ip',
  location: 'location',
  outcome: 'outcome',
  threat: 'threat',
  from: 'from',
  to: 'to',
  limit: 'limit',
  cursor: 'cursor',
};

export async function run(argv: string[], env: NodeJS.ProcessEnv, io: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      url: { type: 'string' },
      token: { type: 'string' },
      'database-url': { type: 'string' },
      'from-id': { type: 'string' },
      'to-id': { type: 'string' },
      'log-dir': { type: 'string' },
      'log-file': { type: 'string' },
      'instance-id': { type: 'string' },
      details: { type: 'string', multiple: true },
      format: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
      lines: { type: 'string', short: 'n' },
      interval: { type: 'string' },
      reason: { type: 'string' },
      'users-table': { type: 'string' },
      'id-column': { type: 'string' },
      origin: { type: 'string' },
      name: { type: 'string' },
      vkey: { type: 'string', multiple: true },
      witness: { type: 'string', multiple: true },
      quorum: { type: 'string' },
      state: { type: 'string' },
      key: { type: 'string' },
      log: { type: 'string', multiple: true },
      listen: { type: 'string' },
      prefix: { type: 'string' },
      checkpoint: { type: 'string' },
      ...Object.fromEntries(Object.keys(FILTERS).map((k) => [k, { type: 'string' as const }])),
    },
  });
  const [area, command] = positionals;
  if (values.help || !area) {
    io.out(USAGE);
    return values.help ? 0 : 2;
  }
  if (area === 'strikes') {
    const databaseUrl = values['database-url'] ?? env.DATABASE_URL;
    if (!databaseUrl) {
      throw new CliError(
        'strikes commands need DATABASE_URL (with the embedded database, stop the service or use the admin API)',
      );
    }
    // Loaded on demand: these boot a Nest context (the audit and transparency commands do not).
    const { unblockCommand, enrollMissingCommand } = await import('./strikes-commands.js');
    if (command === 'unblock')
      return unblockCommand(databaseUrl, auditLogDir(env), positionals[2], values.reason, io);
    if (command === 'enroll-missing')
      return enrollMissingCommand(
        databaseUrl,
        auditLogDir(env),
        { table: values['users-table'] ?? 'users', idColumn: values['id-column'] ?? 'id' },
        io,
      );
  }
  if (area === 'login-throttle' && (command === 'status' || command === 'clear')) {
    const databaseUrl = values['database-url'] ?? env.DATABASE_URL;
    if (!databaseUrl) {
      throw new CliError(
        'login-throttle commands need DATABASE_URL (with the embedded database, stop the service or use the admin API)',
      );
    }
    const { loginThrottleStatusCommand, loginThrottleClearCommand } =
      await import('./login-throttle-commands.js');
    const handler = command === 'status' ? loginThrottleStatusCommand : loginThrottleClearCommand;
    return handler(databaseUrl, auditLogDir(env), positionals.slice(2), io);
  }
  if (area === 'witness' && command === 'keygen') return keygenCommand(values.name, true, io);
  if (area === 'witness' && command === 'serve')
    return witnessServeCommand(
      {
        key: values.key,
        logs: values.log,
        state: values.state,
        listen: values.listen,
        prefix: values.prefix,
      },
      env,
      io,
    );
  if (area === 'audit' && command === 'keygen') return keygenCommand(values.origin, false, io);
  if (area === 'audit' && command === 'verify' && values.checkpoint !== undefined) {
    if (!values['log-dir'])
      throw new CliError(
        'audit verify --checkpoint F needs --log-dir D (the log files to check against it)',
      );
    return verifyFilesAgainstCheckpoint(values['log-dir'], values.checkpoint, values.vkey, io);
  }
  if (area === 'audit' && command === 'verify-proof')
    return verifyProofCommand(
      positionals[2],
      positionals[3],
      {
        vkeys: values.vkey,
        witnesses: values.witness,
        quorum:
          values.quorum === undefined ? undefined : (positiveInt(values.quorum, '--quorum') ?? 0),
      },
      io,
    );
  if (area === 'audit' && command === 'prove') {
    const source = await checkpointSource(
      values.url ?? env.STRIKEGUARD_URL,
      values.token ?? env.STRIKEGUARD_TOKEN,
      values['database-url'] ?? env.DATABASE_URL,
    );
    try {
      return await proveCommand(source, positiveInt(positionals[2], 'the record id'), io);
    } finally {
      await source.close();
    }
  }
  if (area === 'audit' && command === 'checkpoint') {
    if (positionals[2] !== 'verify')
      throw new CliError('audit checkpoint takes "verify" (try --help)');
    const source = await checkpointSource(
      values.url ?? env.STRIKEGUARD_URL,
      values.token ?? env.STRIKEGUARD_TOKEN,
      values['database-url'] ?? env.DATABASE_URL,
    );
    try {
      return await checkpointVerifyCommand(
        source,
        {
          vkeys: values.vkey,
          witnesses: values.witness,
          quorum:
            values.quorum === undefined ? undefined : (positiveInt(values.quorum, '--quorum') ?? 0),
          state: values.state,
        },
        io,
      );
    } finally {
      await source.close();
    }
  }
  if (area !== 'audit' || !['verify', 'search', 'tail', 'export'].includes(command ?? '')) {
    throw new CliError(`unknown command "${positionals.join(' ')}" (try --help)`);
  }

  const logDir = values['log-dir'];
  const source = await openSource(values, env, command === 'verify' && !!logDir);
  try {
    if (command === 'verify') {
      return await verifyCommand(
        source,
        {
          fromId: positiveInt(values['from-id'], '--from-id'),
          toId: positiveInt(values['to-id'], '--to-id'),
          logDir,
          logFile: values['log-file'],
          instanceId: values['instance-id'],
        },
        io,
      );
    }
    if (!source) throw new CliError(`audit ${command} needs DATABASE_URL, or --url and --token`);
    const params: Record<string, string> = {};
    for (const [flag, param] of Object.entries(FILTERS)) {
      const v = (values as Record<string, unknown>)[flag];
      if (typeof v === 'string') params[param] = v;
    }
    for (const pair of values.details ?? []) {
      const eq = pair.indexOf('=');
      if (eq < 1) throw new CliError(`--details takes key=value (got "${pair}")`);
      params[`details.${pair.slice(0, eq)}`] = pair.slice(eq + 1);
    }
    if (command === 'search') return await searchCommand(source, params, io);
    if (command === 'export') {
      if ((values.format ?? 'jsonl') !== 'jsonl')
        throw new CliError('--format: only jsonl is supported');
      return await exportCommand(source, params, io);
    }
    return await tailCommand(
      source,
      {
        count: positiveInt(values.lines, '-n') ?? 10,
        follow: values.follow ?? false,
        intervalMs: positiveInt(values.interval, '--interval') ?? 1000,
      },
      io,
    );
  } finally {
    await source?.close();
  }
}

async function openSource(
  values: { url?: string; token?: string; 'database-url'?: string },
  env: NodeJS.ProcessEnv,
  filesAllowed: boolean,
): Promise<AuditSource | null> {
  const url = values.url ?? env.STRIKEGUARD_URL;
  if (url) {
    const token = values.token ?? env.STRIKEGUARD_TOKEN;
    if (!token)
      throw new CliError(
        '--url needs --token (or STRIKEGUARD_TOKEN): an admin, auditor or audit:read token',
      );
    return new HttpSource(url, token);
  }
  const databaseUrl = values['database-url'] ?? env.DATABASE_URL;
  if (databaseUrl) return DatabaseSource.connect(databaseUrl);
  if (filesAllowed) return null;
  throw new CliError(
    'no audit trail to read: set DATABASE_URL, or --url and --token (the embedded database is reachable only through the service)',
  );
}

/** Where the service writes its log files, as it decides it (AUDIT_LOG_DIR, default ./var/audit). */
function auditLogDir(env: NodeJS.ProcessEnv): string {
  return path.resolve(env.AUDIT_LOG_DIR || './var/audit');
}

function positiveInt(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^[1-9]\d{0,14}$/.test(raw))
    throw new CliError(`${name} must be a positive integer (got "${raw}")`);
  return Number(raw);
}

const io: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  progress: (line) => {
    if (process.stderr.isTTY || process.env.STRIKEGUARD_PROGRESS) process.stderr.write(`${line}\n`);
  },
};

/** A database error the user can fix, said as such (no stack trace); null for anything else. */
function databaseProblem(error: unknown): string | null {
  const e = error as { code?: string; driverError?: { code?: string }; message?: string };
  const code = e.driverError?.code ?? e.code;
  if (code === '42P01')
    return `the database has no strikeguard tables (${e.message}): point DATABASE_URL at the service's database, or run strikeguardMigrations on it (the service runs them at start)`;
  if (code === '42501')
    return `the database user may not read strikeguard's tables (${e.message}): use a role with SELECT on them`;
  return null;
}

/** Run as a program (`node …/main.js`, or the package's `strikeguard` bin, a symlink), not imported. */
function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return fs.realpathSync(script) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return script.endsWith('/strikeguard');
  }
}

if (isMain()) {
  run(process.argv.slice(2), process.env, io).then(
    (code) => process.exit(code),
    (error: unknown) => {
      const known =
        error instanceof CliError ||
        (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
      process.stderr.write(
        `strikeguard: ${known ? (error as Error).message : (databaseProblem(error) ?? (error as Error).stack ?? String(error))}\n`,
      );
      process.exit(2);
    },
  );
}
