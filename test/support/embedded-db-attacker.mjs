// Run as another OS user (runuser) while the service starts on the embedded database: what an
// attacker on the same host tries, every few milliseconds from before the service starts until
// <stopFile> exists (or <maxMs> passed): log in as the PostgreSQL superuser and count the users on
// every TCP port the service listens on, and on the database's Unix socket in DATA_DIR; read the
// WAL. Prints a JSON report on stdout.
//
// The attacker of the issue found the port by polling /proc/net/tcp. On a shared machine that
// would also hit other processes' ports (and take the one connection of someone else's embedded
// database), so here the test does the polling, of the service's own sockets (/proc/<pid>/fd),
// and appends each port it sees to <targetsFile>, which this script reads on every round.
//
//   node embedded-db-attacker.mjs <projectRoot> <dataDir> <targetsFile> <stopFile> <maxMs>
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const [projectRoot, dataDir, targetsFile, stopFile, maxMs] = process.argv.slice(2);
const pg = createRequire(path.join(projectRoot, 'package.json'))('pg');

/** Ports the test saw the service open, one `host port` a line (see the header). */
function targets() {
  try {
    return fs
      .readFileSync(targetsFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [host, port] = line.split(' ');
        return { key: line, host, port: Number(port) };
      });
  } catch {
    return [];
  }
}

/** Logs in as the superuser and reads the users table: the takeover of the issue. */
async function tryLogin(config) {
  const client = new pg.Client({
    user: 'postgres',
    database: 'postgres',
    connectionTimeoutMillis: 1000,
    query_timeout: 1000,
    ...config,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query('SELECT current_user AS "user", version() AS version');
    let users = null;
    try {
      users = (await client.query('SELECT count(*)::int AS n FROM users')).rows[0].n;
    } catch {
      // another server: no users table
    }
    return { ok: true, user: rows[0].user, version: rows[0].version, users };
  } catch (error) {
    return { ok: false, error: error.code ?? error.message };
  } finally {
    await client.end().catch(() => undefined);
  }
}

const tried = new Set();
const tcp = [];
const pending = [];
const socket = { attempts: 0, connected: 0, errors: {} };
const files = { attempts: 0, read: 0, errors: {} };
const started = Date.now();
let socketBusy = false;

while (!fs.existsSync(stopFile) && Date.now() - started < Number(maxMs)) {
  for (const s of targets()) {
    if (tried.has(s.key)) continue;
    tried.add(s.key);
    const at = Date.now() - started;
    pending.push(
      tryLogin({ host: s.host, port: s.port }).then((result) =>
        tcp.push({ port: s.port, host: s.host, atMs: at, ...result }),
      ),
    );
  }
  if (!socketBusy) {
    socketBusy = true;
    socket.attempts++;
    void tryLogin({ host: dataDir, port: 5432 }).then((result) => {
      if (result.ok) socket.connected++;
      else socket.errors[result.error] = (socket.errors[result.error] ?? 0) + 1;
      socketBusy = false;
    });
  }
  files.attempts++;
  try {
    const wal = path.join(dataDir, 'pglite', 'pg_wal');
    const segment = fs.readdirSync(wal).find((name) => /^[0-9A-F]{24}$/.test(name));
    if (segment) {
      fs.readFileSync(path.join(wal, segment));
      files.read++;
    }
  } catch (error) {
    files.errors[error.code] = (files.errors[error.code] ?? 0) + 1;
  }
  await sleep(2);
}
await Promise.all(pending);
while (socketBusy) await sleep(5);
process.stdout.write(JSON.stringify({ tcp, socket, files }));
