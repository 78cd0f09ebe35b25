import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateNoteKey, parseSignerKey } from '../../index.js';
import { type AppConfig } from './app-config.js';

/** The file the service keeps a generated checkpoint signing key in (outside production). */
export const SIGNING_KEY_FILE = 'audit-signing.key';

/**
 * The checkpoint signing key: AUDIT_SIGNING_KEY; else (refused in production) one generated
 * into DATA_DIR (0600) and kept across restarts, with a warning: a key next to the data it signs
 * proves nothing against whoever holds both.
 */
export function auditSigningKey(config: AppConfig, warn: (message: string) => void): string {
  if (config.transparency.signingKey) return config.transparency.signingKey;
  const file = path.join(config.dataDir, SIGNING_KEY_FILE);
  let key: string | null = null;
  try {
    key = readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (key !== null) {
    const signer = parseSignerKey(key);
    if (signer.name !== config.transparency.origin)
      throw new Error(
        `${file} holds a key for "${signer.name}", not AUDIT_LOG_ORIGIN "${config.transparency.origin}": set AUDIT_LOG_ORIGIN=${signer.name} or move the file away`,
      );
  } else {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    key = generateNoteKey(config.transparency.origin).signerKey;
    writeFileSync(file, key + '\n', { mode: 0o600, flag: 'wx' });
  }
  warn(
    `AUDIT_SIGNING_KEY is not set: checkpoints are signed with the key in ${file} (verifier key ${parseSignerKey(key).vkey}); set AUDIT_SIGNING_KEY to a key kept away from this host (\`strikeguard audit keygen --origin ${config.transparency.origin}\`)`,
  );
  return key;
}
