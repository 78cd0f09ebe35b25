import os from 'node:os';
import {
  isOrigin,
  NOTE_KEY_TYPE,
  parseSignerKey,
  parseVerifierKey,
  type WitnessOptions,
} from '../../index.js';
import { parseDuration } from './env-values.js';

/** The service's transparency-log settings (AUDIT_LOG_ORIGIN, AUDIT_SIGNING_KEY, …). */
export interface TransparencyConfig {
  origin: string;
  /** AUDIT_SIGNING_KEY; null: generated into DATA_DIR at start (refused in production). */
  signingKey: string | null;
  previousKeys: string[];
  checkpointIntervalMs: number;
  witnesses: WitnessOptions[];
}

/** `strikeguard.example/audit` from the host name, made a valid key name. */
export function defaultOrigin(hostname = os.hostname()): string {
  const host = hostname.toLowerCase().replace(/[^a-z0-9.-]/g, '-') || 'localhost';
  return `${host}/strikeguard-audit`;
}

export function parseTransparency(
  env: NodeJS.ProcessEnv,
  production: boolean,
  problems: string[],
): TransparencyConfig {
  const origin = env.AUDIT_LOG_ORIGIN || defaultOrigin();
  if (!isOrigin(origin))
    problems.push(
      `AUDIT_LOG_ORIGIN must be a name with no spaces or "+", e.g. "audit.example.com/strikeguard" (got ${JSON.stringify(origin)})`,
    );
  const signingKey = env.AUDIT_SIGNING_KEY || null;
  if (signingKey !== null) {
    try {
      const signer = parseSignerKey(signingKey);
      if (signer.name !== origin)
        problems.push(
          `AUDIT_SIGNING_KEY is named "${signer.name}" but AUDIT_LOG_ORIGIN is "${origin}": set AUDIT_LOG_ORIGIN=${signer.name}, or make a key with \`strikeguard audit keygen --origin ${origin}\``,
        );
    } catch (error) {
      problems.push(`AUDIT_SIGNING_KEY: ${(error as Error).message}`);
    }
  } else if (production) {
    problems.push(
      'AUDIT_SIGNING_KEY is required with NODE_ENV=production (checkpoints signed with a key kept next to the data prove nothing): make one with `strikeguard audit keygen --origin <AUDIT_LOG_ORIGIN>` and keep it out of the database host',
    );
  }
  const previousKeys = (env.AUDIT_PREVIOUS_KEYS || '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  for (const k of previousKeys) {
    try {
      parseVerifierKey(k);
    } catch (error) {
      problems.push(`AUDIT_PREVIOUS_KEYS: ${(error as Error).message}`);
    }
  }
  const witnesses: WitnessOptions[] = [];
  for (const entry of (env.AUDIT_WITNESSES || '')
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean)) {
    const at = entry.indexOf('=');
    const url = entry.slice(0, at);
    const vkey = entry.slice(at + 1);
    try {
      if (at < 0) throw new Error('is not <url>=<witness vkey>');
      const parsed = new URL(url);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
        throw new Error('needs an http(s) URL');
      parseVerifierKey(vkey, [NOTE_KEY_TYPE.cosignature]);
      witnesses.push({ url, vkey });
    } catch (error) {
      problems.push(
        `AUDIT_WITNESSES entry ${JSON.stringify(entry.slice(0, 200))} ${(error as Error).message}: each entry is <url>=<witness vkey>, comma-separated`,
      );
    }
  }
  return {
    origin,
    signingKey,
    previousKeys,
    checkpointIntervalMs: parseDuration(env, 'AUDIT_CHECKPOINT_INTERVAL', 10, problems, 1) * 1000,
    witnesses,
  };
}
