import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import fs from 'node:fs';
import path from 'node:path';
import { acquireInstanceLock, describeLockHolder } from '../../index.js';

/** A PGlite database in `dataDir`, served on a loopback port to the ordinary `pg` driver. */
export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts the embedded database. PGlite is single-user: one process may open `dataDir`, and the
 * socket server accepts one client connection, so the service uses a pool of exactly one.
 */
export async function startEmbeddedDatabase(dataDir: string): Promise<EmbeddedDatabase> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lock = await acquireLock(dataDir);
  try {
    const db = await PGlite.create({ dataDir: path.join(dataDir, 'pglite') });
    const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
    await server.start();
    const port = Number(server.getServerConn().split(':').pop());
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      async stop() {
        await server.stop();
        await db.close();
        await lock.release();
      },
    };
  } catch (error) {
    await lock.release();
    throw error;
  }
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
