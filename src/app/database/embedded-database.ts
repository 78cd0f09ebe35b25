import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import fs from 'node:fs';
import path from 'node:path';
import { acquireInstanceLock, describeLockHolder } from '../../index.js';
import {
  ensurePrivateDirectory,
  PRIVATE_FILE_MODE,
  tightenTree,
  type TightenedMode,
} from './private-directory.js';

/**
 * A PGlite database in `dataDir`, served to the ordinary `pg` driver on a Unix socket inside that
 * 0700 directory: no TCP port, and no other OS user can reach the socket or the files.
 */
export interface EmbeddedDatabase {
  url: string;
  /** `<dataDir>/.s.PGSQL.5432`, the name `pg` looks for when its host is a directory. */
  socketPath: string;
  /** Permissions that were wider than 0700/0600 when the service found DATA_DIR, now tightened. */
  tightened: TightenedMode[];
  stop(): Promise<void>;
}

/** `pg` (like libpq) connects to `<host directory>/.s.PGSQL.<port>`. */
const SOCKET_PORT = 5432;
const SOCKET_NAME = `.s.PGSQL.${SOCKET_PORT}`;
/** sun_path holds 108 bytes on Linux, the terminating NUL included (104 on macOS and BSDs). */
const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

/**
 * Starts the embedded database. PGlite is single-user: one process may open `dataDir`, and the
 * socket server accepts one client connection, so the service uses a pool of exactly one.
 */
export async function startEmbeddedDatabase(dataDir: string): Promise<EmbeddedDatabase> {
  const socketPath = path.join(dataDir, SOCKET_NAME);
  assertSocketPathFits(dataDir, socketPath);
  // First the directory itself: from here on nobody else can open anything new inside it.
  const tightened = ensurePrivateDirectory(dataDir, 'DATA_DIR');
  const lock = await acquireLock(dataDir);
  let db: PGlite | null = null;
  try {
    tightened.push(...tightenTree(dataDir));
    removeStaleSocket(socketPath);
    db = await PGlite.create({ dataDir: path.join(dataDir, 'pglite') });
    // PGlite creates a new database's files 0666 and rewrites some at open under the umask; the
    // directory kept them private meanwhile. Not reported: this process made them.
    tightenTree(dataDir);
    const opened = db;
    const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: 1 });
    await server.start();
    fs.chmodSync(socketPath, PRIVATE_FILE_MODE);
    return {
      url: `postgres://postgres@/postgres?host=${encodeURIComponent(dataDir)}&port=${SOCKET_PORT}`,
      socketPath,
      tightened,
      async stop() {
        await server.stop();
        await opened.close();
        tightenTree(dataDir); // what PGlite wrote while running stays private on disk too
        await lock.release();
      },
    };
  } catch (error) {
    await db?.close().catch(() => undefined);
    await lock.release();
    throw error;
  }
}

function assertSocketPathFits(dataDir: string, socketPath: string): void {
  const bytes = Buffer.byteLength(socketPath);
  if (bytes <= MAX_SOCKET_PATH_BYTES) return;
  throw new Error(
    `DATA_DIR ${dataDir} is too long for the embedded database's Unix socket ` +
      `(${socketPath} is ${bytes} bytes; at most ${MAX_SOCKET_PATH_BYTES}): ` +
      `use a DATA_DIR of at most ${MAX_SOCKET_PATH_BYTES - SOCKET_NAME.length - 1} bytes, or set DATABASE_URL`,
  );
}

/** A socket left by a process that was killed; we hold the lock, so it is nobody's. */
function removeStaleSocket(socketPath: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!stat.isSocket()) {
    throw new Error(
      `${socketPath} exists and is not a socket: remove it (the embedded database listens there)`,
    );
  }
  fs.rmSync(socketPath);
}

/**
 * Two processes on one PGlite directory would corrupt it: the second is refused with a reason,
 * also from another PID namespace or host (containers sharing the volume). One that loses the
 * lock (frozen past its heartbeat, another process took over) stops at once.
 */
function acquireLock(dataDir: string) {
  return acquireInstanceLock(path.join(dataDir, 'strikeguard.lock'), {
    describeHolder: (holder) =>
      `the embedded database in ${dataDir} is in use by ${describeLockHolder(holder)}; ` +
      'stop it, use another DATA_DIR, or set DATABASE_URL to share a PostgreSQL server between instances',
    onLost: (error) => {
      console.error(`strikeguard: ${error.message}; stopping`);
      process.exit(1);
    },
  });
}
