import 'reflect-metadata';
import { ConfigError, loadConfig } from './config/app-config.js';
import { createApp } from './create-app.js';
import { type DatabaseConnection } from './database/data-source-options.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './database/embedded-database.js';
import { describeTightened } from './database/private-directory.js';

async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`strikeguard: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  const { config, warnings } = loaded;
  for (const warning of warnings) console.warn(`strikeguard: warning: ${warning}`);

  let embedded: EmbeddedDatabase | null = null;
  let db: DatabaseConnection;
  if (config.databaseUrl) {
    db = {
      url: config.databaseUrl,
      poolSize: config.databasePoolSize,
      queryTimeoutMs: config.databaseQueryTimeoutMs,
      embedded: false,
    };
  } else {
    embedded = await startEmbeddedDatabase(config.dataDir);
    for (const line of describeTightened(config.dataDir, embedded.tightened)) {
      console.warn(`strikeguard: warning: DATA_DIR was open to other users: ${line}`);
    }
    db = {
      url: embedded.url,
      poolSize: 1,
      embedded: true,
      queryTimeoutMs: config.databaseQueryTimeoutMs,
    };
    console.log(
      `strikeguard: embedded PostgreSQL (PGlite) in ${config.dataDir}, on the Unix socket ${embedded.socketPath}`,
    );
  }

  let app;
  try {
    app = await createApp(config, db);
    // No HOST: every interface (Node's default, `::` or `0.0.0.0`).
    if (config.host) await app.listen(config.port, config.host);
    else await app.listen(config.port);
  } catch (error) {
    // Close the embedded database cleanly (and release its lock) before giving up.
    await embedded?.stop().catch(() => undefined);
    throw error;
  }
  console.log(
    `strikeguard: listening on ${listenUrl(config.host, config.port)}` +
      (config.docsEnabled ? ' (API docs at /docs)' : ''),
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`strikeguard: ${signal} received, shutting down`);
    await app.close();
    await embedded?.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/** Where to point a browser: `localhost` for every interface, an IPv6 address in brackets. */
function listenUrl(host: string | null, port: number): string {
  const shown = !host || host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

main().catch((error: unknown) => {
  console.error('strikeguard: failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
