import fs from 'node:fs';
import path from 'node:path';
import {
  formatTlogProof,
  generateNoteKey,
  hashRecord,
  parseTlogProof,
  RootBuilder,
  verifyLogDirectory,
  verifyTlogProof,
  listenWitness,
  MerkleProofError,
  NOTE_KEY_TYPE,
  type NoteVerifier,
  openNote,
  parseCheckpoint,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  poolDataSource,
  TransparencyReader,
  verifyConsistency,
  verifyCosignature,
  Witness,
  witnessServer,
} from '../reader.js';
import { type Output } from './audit-commands.js';
import { connectDatabase } from './cli-database.js';
import { CliError } from './cli-error.js';
import { malformed, ServiceClient } from './service-client.js';

/** Exit codes of `audit checkpoint verify` beyond 0 (ok) and 2 (usage, connection). */
export const EXIT = { fork: 3, signature: 4, quorum: 5 } as const;

/** Where the latest checkpoint and consistency proofs come from. */
export interface CheckpointSource {
  latestNote(): Promise<string | null>;
  consistencyProof(from: number, to: number): Promise<Buffer[]>;
  inclusionProof(id: number, size: number): Promise<{ index: number; proof: Buffer[] }>;
  close(): Promise<void>;
}

export async function checkpointSource(
  url: string | undefined,
  token: string | undefined,
  databaseUrl: string | undefined,
): Promise<CheckpointSource> {
  if (url) {
    if (!token)
      throw new CliError('--url needs --token (or STRIKEGUARD_TOKEN): an admin or auditor token');
    const client = new ServiceClient(url, token);
    return {
      async latestNote() {
        const path = '/audit/log/checkpoint';
        const res = await client.request(path);
        if (res.status === 404) return null;
        const text = await res.text();
        if (res.status !== 200)
          throw new CliError(`GET ${path} answered ${res.status}: ${text.slice(0, 500)}`);
        return text;
      },
      async consistencyProof(from, to) {
        const path = `/audit/log/proof/consistency?from=${from}&to=${to}`;
        const body = (await client.json(path)) as { from?: unknown; to?: unknown; proof?: unknown };
        if (body.from !== from || body.to !== to)
          throw malformed(path, `a proof between other sizes than ${from} and ${to}`);
        return proofHashes(body.proof, path);
      },
      async inclusionProof(id, size) {
        const path = `/audit/log/proof/inclusion?id=${id}&size=${size}`;
        const body = (await client.json(path)) as {
          index?: unknown;
          size?: unknown;
          proof?: unknown;
        };
        if (body.index !== id - 1 || body.size !== size)
          throw malformed(path, `a proof of another record or tree than ${id} in ${size}`);
        return { index: id - 1, proof: proofHashes(body.proof, path) };
      },
      close: async () => {},
    };
  }
  if (!databaseUrl)
    throw new CliError('no transparency log to read: set DATABASE_URL, or --url and --token');
  const pool = await connectDatabase(databaseUrl);
  const reader = new TransparencyReader(poolDataSource(pool));
  return {
    latestNote: async () => (await reader.latestNote())?.note ?? null,
    consistencyProof: async (from, to) =>
      (await reader.consistencyProof(from, to)).proof.map((h) => Buffer.from(h, 'base64')),
    inclusionProof: async (id, size) => {
      const p = await reader.inclusionProof(id, size);
      return { index: p.index, proof: p.proof.map((h) => Buffer.from(h, 'base64')) };
    },
    close: () => pool.end(),
  };
}

const HASH_BASE64 = /^[A-Za-z0-9+/]{43}=$/;

/** A proof as the API sends it (base64 SHA-256 hashes, at most one per tree level), checked. */
function proofHashes(proof: unknown, path: string): Buffer[] {
  if (!Array.isArray(proof) || proof.length > 64)
    throw malformed(path, 'a proof that is not an array of at most 64 hashes');
  return proof.map((h, i) => {
    if (typeof h !== 'string' || !HASH_BASE64.test(h))
      throw malformed(path, `proof[${i}] that is not a base64 SHA-256 hash`);
    return Buffer.from(h, 'base64');
  });
}

/** `audit keygen` / `witness keygen`: a new key pair, the private key first. */
export function keygenCommand(name: string | undefined, witness: boolean, io: Output): number {
  if (!name)
    throw new CliError(
      witness ? 'witness keygen needs --name <name>' : 'audit keygen needs --origin <name>',
    );
  let keys;
  try {
    keys = generateNoteKey(name, witness ? NOTE_KEY_TYPE.cosignature : NOTE_KEY_TYPE.ed25519);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  process.stderr.write(
    witness
      ? '# line 1: the witness private key (--key / WITNESS_KEY; keep it secret); line 2: its verifier key (give it to logs: AUDIT_WITNESSES=<url>=<this>)\n'
      : '# line 1: the signing key (AUDIT_SIGNING_KEY; keep it off the database host); line 2: the verifier key (give it to auditors and witnesses)\n',
  );
  io.out(keys.signerKey);
  io.out(keys.verifierKey);
  return 0;
}

function verifiers(vkeys: string[] | undefined, type: number, flag: string): NoteVerifier[] {
  return (vkeys ?? []).map((k) => {
    try {
      return parseVerifierKey(k, [type as 1 | 4]);
    } catch (error) {
      throw new CliError(`${flag} ${JSON.stringify(k.slice(0, 80))}: ${(error as Error).message}`);
    }
  });
}

/**
 * `audit checkpoint verify`: the latest checkpoint, its signature and cosignatures checked,
 * proved consistent with the one saved in the state file, saved only moving forward.
 */
export async function checkpointVerifyCommand(
  source: CheckpointSource,
  options: { vkeys?: string[]; witnesses?: string[]; quorum?: number; state?: string },
  io: Output,
): Promise<number> {
  const keys = verifiers(options.vkeys, NOTE_KEY_TYPE.ed25519, '--vkey');
  if (keys.length === 0)
    throw new CliError('checkpoint verify needs --vkey <the log verifier key>');
  if (!options.state)
    throw new CliError(
      'checkpoint verify needs --state FILE (where the last checkpoint seen is kept)',
    );
  const witnesses = verifiers(options.witnesses, NOTE_KEY_TYPE.cosignature, '--witness');
  const quorum = options.quorum ?? 0;
  if (quorum > witnesses.length)
    throw new CliError(`--quorum ${quorum} needs at least ${quorum} --witness keys`);
  const note = await source.latestNote();
  if (note === null) throw new CliError('the log has no checkpoint yet');
  let body: string;
  try {
    body = openNote(note, keys).text;
  } catch (error) {
    io.out(JSON.stringify({ ok: false, reason: 'signature', message: (error as Error).message }));
    return EXIT.signature;
  }
  const checkpoint = parseCheckpoint(body);
  const cosigned: { witness: string; time: string }[] = [];
  for (const w of witnesses)
    for (const s of parseNote(note).signatures) {
      try {
        const t = verifyCosignature(w, body, s);
        if (t !== undefined && !cosigned.some((c) => c.witness === w.name))
          cosigned.push({ witness: w.name, time: new Date(t * 1000).toISOString() });
      } catch (error) {
        io.out(
          JSON.stringify({ ok: false, reason: 'cosignature', message: (error as Error).message }),
        );
        return EXIT.signature;
      }
    }
  const now = { size: checkpoint.size, root: checkpoint.root.toString('base64') };
  let savedText: string | null = null;
  try {
    savedText = fs.readFileSync(options.state, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new CliError(`cannot read --state ${options.state}: ${(error as Error).message}`);
  }
  let previous: { size: number; root: string } | null = null;
  if (savedText !== null) {
    let saved;
    try {
      saved = parseCheckpoint(openNote(savedText, keys).text);
    } catch (error) {
      throw new CliError(
        `--state ${options.state} does not hold a checkpoint signed by the --vkey keys (${(error as Error).message})`,
      );
    }
    previous = { size: saved.size, root: saved.root.toString('base64') };
    const fork = (message: string, proof: Buffer[] = []) => {
      io.out(
        JSON.stringify({
          ok: false,
          reason: 'fork',
          message,
          saved: { ...previous, note: savedText },
          latest: { ...now, note },
          proof: proof.map((h) => h.toString('base64')),
        }),
      );
      return EXIT.fork;
    };
    if (saved.origin !== checkpoint.origin)
      return fork(
        `the saved checkpoint is of "${saved.origin}", the log's of "${checkpoint.origin}"`,
      );
    if (saved.size > checkpoint.size)
      return fork(
        `the log has ${checkpoint.size} records, fewer than the ${saved.size} of the saved checkpoint: it was cut or rolled back`,
      );
    if (saved.size === checkpoint.size && !saved.root.equals(checkpoint.root))
      return fork(`two checkpoints of ${saved.size} records with different roots`);
    if (saved.size > 0 && saved.size < checkpoint.size) {
      // A proof that cannot be fetched, or is not a well-formed proof, is not evidence of a fork:
      // it stops the check (exit 2, the state kept). A well-formed proof that fails is one.
      const proof = await source.consistencyProof(saved.size, checkpoint.size);
      try {
        verifyConsistency(saved.size, checkpoint.size, proof, saved.root, checkpoint.root);
      } catch (error) {
        if (!(error instanceof MerkleProofError)) throw error;
        return fork(
          `the log of ${checkpoint.size} records is not an extension of the saved checkpoint of ${saved.size}: ${(error as Error).message}`,
          proof,
        );
      }
    }
  }
  const moved = previous === null || checkpoint.size > previous.size;
  if (moved) saveState(options.state, note);
  const met = cosigned.length >= quorum;
  io.out(
    JSON.stringify({
      ok: met,
      origin: checkpoint.origin,
      ...now,
      previous,
      saved: moved,
      firstUse: previous === null,
      cosignatures: cosigned,
      ...(met
        ? {}
        : {
            reason: 'quorum',
            message: `${cosigned.length} of the ${quorum} cosignatures required`,
          }),
    }),
  );
  if (previous === null)
    process.stderr.write(
      `trusting this first checkpoint (${checkpoint.size} records): saved to ${options.state}\n`,
    );
  return met ? 0 : EXIT.quorum;
}

function saveState(file: string, note: string): void {
  const tmp = path.join(
    path.dirname(path.resolve(file)),
    `.${path.basename(file)}.${process.pid}.tmp`,
  );
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeFileSync(fd, note);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** `witness serve`: the shipped C2SP witness, until SIGINT or SIGTERM. */
export async function witnessServeCommand(
  options: { key?: string; logs?: string[]; state?: string; listen?: string; prefix?: string },
  env: NodeJS.ProcessEnv,
  io: Output,
): Promise<number> {
  let keyText = options.key ?? env.WITNESS_KEY;
  if (!keyText)
    throw new CliError(
      'witness serve needs --key @FILE (or WITNESS_KEY): make one with `strikeguard witness keygen --name <name>`',
    );
  if (keyText.startsWith('@')) {
    try {
      keyText = fs.readFileSync(keyText.slice(1), 'utf8').trim();
    } catch (error) {
      throw new CliError(`cannot read the witness key file: ${(error as Error).message}`);
    }
  }
  let signer;
  try {
    signer = parseSignerKey(keyText, [NOTE_KEY_TYPE.cosignature]);
  } catch (error) {
    throw new CliError(
      `the witness key: ${(error as Error).message} (a witness key has type 0x04: \`strikeguard witness keygen\`)`,
    );
  }
  const logs = (options.logs ?? []).map((entry) => {
    const at = entry.indexOf('=');
    if (at < 1)
      throw new CliError(`--log takes <origin>=<log verifier key> (got "${entry.slice(0, 80)}")`);
    const origin = entry.slice(0, at);
    const [key] = verifiers([entry.slice(at + 1)], NOTE_KEY_TYPE.ed25519, '--log');
    if (key.name !== origin)
      throw new CliError(
        `--log ${origin}: the key is named "${key.name}"; a log's key is named as its origin`,
      );
    return { origin, key };
  });
  if (logs.length === 0)
    throw new CliError('witness serve needs at least one --log <origin>=<vkey>');
  if (!options.state)
    throw new CliError('witness serve needs --state FILE (the checkpoints it has cosigned)');
  const merged = new Map<string, NoteVerifier[]>();
  for (const l of logs) merged.set(l.origin, [...(merged.get(l.origin) ?? []), l.key]);
  const witness = new Witness(
    signer,
    [...merged].map(([origin, vs]) => ({ origin, verifiers: vs })),
    path.resolve(options.state),
    undefined,
    (m) => process.stderr.write(`witness: possible log misbehaviour: ${m}\n`),
  );
  const releaseLock = lockStateFile(path.resolve(options.state));
  try {
    await witness.load();
  } catch (error) {
    releaseLock();
    throw new CliError(`cannot load --state ${options.state}: ${(error as Error).message}`);
  }
  const [host, portText] = (options.listen ?? '127.0.0.1:8555').split(/:(?=\d+$)/);
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError('--listen takes host:port');
  const server = witnessServer(witness, options.prefix ?? '');
  const address = await listenWitness(server, host.replace(/^\[(.*)\]$/, '$1'), port);
  io.out(
    JSON.stringify({
      listening: `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}${options.prefix ?? ''}`,
      witness: signer.vkey,
    }),
  );
  await new Promise<void>((resolve) => {
    const stop = () => server.close(() => resolve());
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  releaseLock();
  return 0;
}

/**
 * One witness process per state file: `<state>.lock` holds its pid. A lock whose process is gone
 * (killed) is taken over; a live one is refused, naming it. Answers the release.
 */
function lockStateFile(state: string): () => void {
  const lock = `${state}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(lock, 'wx', 0o600);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      return () => fs.rmSync(lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new CliError(`cannot create ${lock}: ${(error as Error).message}`);
    }
    const pid = Number(fs.readFileSync(lock, 'utf8').trim());
    let alive = false;
    try {
      if (Number.isInteger(pid) && pid > 0) {
        process.kill(pid, 0);
        alive = true;
      }
    } catch (error) {
      alive = (error as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (alive)
      throw new CliError(
        `another witness (pid ${pid}) serves ${state}: two witnesses on one state file could cosign a rollback; stop it or use another --state`,
      );
    fs.rmSync(lock, { force: true });
  }
  throw new CliError(`cannot take over ${lock}`);
}

function readText(file: string | undefined, what: string): string {
  if (!file) throw new CliError(`${what} is missing`);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${what} ${file}: ${(error as Error).message}`);
  }
}

/**
 * `audit verify --log-dir D --checkpoint F --vkey K`: no database. The log files' chain is
 * verified record by record, the RFC 9162 root of their first `size` records recomputed and
 * compared with the signed checkpoint's.
 */
export async function verifyFilesAgainstCheckpoint(
  logDir: string,
  checkpointFile: string,
  vkeys: string[] | undefined,
  io: Output,
): Promise<number> {
  const keys = verifiers(vkeys, NOTE_KEY_TYPE.ed25519, '--vkey');
  if (keys.length === 0) throw new CliError('--checkpoint needs --vkey <the log verifier key>');
  let checkpoint;
  try {
    checkpoint = parseCheckpoint(openNote(readText(checkpointFile, '--checkpoint'), keys).text);
  } catch (error) {
    if (error instanceof CliError) throw error;
    io.out(JSON.stringify({ ok: false, reason: 'signature', message: (error as Error).message }));
    return EXIT.signature;
  }
  const builder = new RootBuilder();
  let rootAtSize = checkpoint.size === 0 ? builder.root() : null;
  const chain = await verifyLogDirectory(logDir, undefined, (record) => {
    if (builder.size < checkpoint.size) {
      builder.add(Buffer.from(record.hash, 'hex'));
      if (builder.size === checkpoint.size) rootAtSize = builder.root();
    }
  });
  const verdict = (ok: boolean, extra: Record<string, unknown>) =>
    io.out(
      JSON.stringify({
        ok,
        checked: chain.checked,
        checkpoint: { size: checkpoint.size, root: checkpoint.root.toString('base64') },
        ...extra,
      }),
    );
  if (rootAtSize === null) {
    verdict(false, {
      reason: chain.ok ? 'cut' : 'chain',
      message: chain.ok
        ? `the log files hold ${builder.size} records, fewer than the ${checkpoint.size} of the signed checkpoint: records were deleted`
        : `the chain breaks at record ${chain.firstInvalidId} (${chain.reason}) before the checkpoint's ${checkpoint.size} records`,
    });
    return chain.ok ? EXIT.fork : 1;
  }
  if (!(rootAtSize as Buffer).equals(checkpoint.root)) {
    verdict(false, {
      reason: 'fork',
      root: (rootAtSize as Buffer).toString('base64'),
      message: `the root of the first ${checkpoint.size} records in the files is not the signed checkpoint's: history before it was rewritten`,
    });
    return EXIT.fork;
  }
  if (!chain.ok) {
    verdict(false, {
      reason: 'chain',
      firstInvalidId: chain.firstInvalidId,
      message: chain.reason,
    });
    return 1;
  }
  verdict(true, {});
  return 0;
}

/** `audit prove <id>`: a C2SP tlog-proof of the record against the latest checkpoint. */
export async function proveCommand(
  source: CheckpointSource,
  id: number | undefined,
  io: Output,
): Promise<number> {
  if (id === undefined) throw new CliError('audit prove needs the record id: audit prove <id>');
  const note = await source.latestNote();
  if (note === null) throw new CliError('the log has no checkpoint yet');
  const size = parseCheckpoint(parseNote(note).text).size;
  if (id > size)
    throw new CliError(
      `record ${id} is not in the latest checkpoint (${size} records) yet: try again after the next one`,
    );
  const p = await source.inclusionProof(id, size);
  io.out(formatTlogProof({ index: p.index, proof: p.proof, note }).replace(/\n$/, ''));
  return 0;
}

/** `audit verify-proof --vkey K PROOF RECORD.json`: offline, the proof and the record. */
export function verifyProofCommand(
  proofFile: string | undefined,
  recordFile: string | undefined,
  options: { vkeys?: string[]; witnesses?: string[]; quorum?: number },
  io: Output,
): number {
  const keys = verifiers(options.vkeys, NOTE_KEY_TYPE.ed25519, '--vkey');
  if (keys.length === 0) throw new CliError('verify-proof needs --vkey <the log verifier key>');
  const witnesses = verifiers(options.witnesses, NOTE_KEY_TYPE.cosignature, '--witness');
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(readText(recordFile, 'the record file (RECORD.json)'));
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`the record file is not JSON: ${(error as Error).message}`);
  }
  const fail = (message: string) => {
    io.out(JSON.stringify({ ok: false, message }));
    return 1;
  };
  if (
    typeof record !== 'object' ||
    record === null ||
    typeof record.hash !== 'string' ||
    typeof record.id !== 'number'
  )
    return fail(
      'the record has no id and hash: give the record as GET /audit/events/:id returns it',
    );
  const { hash, ...rest } = record as { hash: string } & Record<string, unknown>;
  let recomputed: string;
  try {
    recomputed = hashRecord(rest as never);
  } catch (error) {
    return fail(`the record cannot be hashed: ${(error as Error).message}`);
  }
  if (recomputed !== hash)
    return fail(`the record's content does not hash to its hash (${hash}): it was altered`);
  let parsed;
  try {
    parsed = parseTlogProof(readText(proofFile, 'the proof file'));
  } catch (error) {
    if (error instanceof CliError) throw error;
    return fail(`not a C2SP tlog-proof: ${(error as Error).message}`);
  }
  if (parsed.index !== (record.id as number) - 1)
    return fail(`the proof is for record ${parsed.index + 1}, not ${record.id as number}`);
  try {
    const verdict = verifyTlogProof(
      parsed,
      Buffer.from(hash, 'hex'),
      keys,
      witnesses,
      options.quorum ?? 0,
    );
    io.out(
      JSON.stringify({
        ok: true,
        id: record.id,
        size: verdict.checkpoint.size,
        cosignedBy: verdict.cosignedBy,
      }),
    );
    return 0;
  } catch (error) {
    return fail((error as Error).message);
  }
}
