import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/app/config/app-config.js';
import { auditSigningKey, SIGNING_KEY_FILE } from '../../src/app/config/audit-signing-key.js';
import { defaultOrigin } from '../../src/app/config/transparency-config.js';
import { generateNoteKey, NOTE_KEY_TYPE, parseSignerKey } from '../../src/index.js';

const problemsOf = (env: NodeJS.ProcessEnv): string[] => {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('accepted');
};

describe('transparency log configuration (AUDIT_LOG_ORIGIN, AUDIT_SIGNING_KEY, AUDIT_WITNESSES)', () => {
  const key = generateNoteKey('audit.example.com/log');
  const witness = generateNoteKey('witness.example/w1', NOTE_KEY_TYPE.cosignature);

  it('defaults: the origin from the host name, a 10 s interval, no witnesses, no key', () => {
    const { config } = loadConfig({});
    expect(config.transparency).toEqual({
      origin: defaultOrigin(),
      signingKey: null,
      previousKeys: [],
      checkpointIntervalMs: 10_000,
      witnesses: [],
    });
    expect(defaultOrigin('Web-1.Example.COM')).toBe('web-1.example.com/strikeguard-audit');
    expect(defaultOrigin('we b+1')).toBe('we-b-1/strikeguard-audit');
  });

  it('reads every variable', () => {
    const { config } = loadConfig({
      AUDIT_LOG_ORIGIN: 'audit.example.com/log',
      AUDIT_SIGNING_KEY: key.signerKey,
      AUDIT_PREVIOUS_KEYS: generateNoteKey('audit.example.com/log').verifierKey,
      AUDIT_CHECKPOINT_INTERVAL: '1m',
      AUDIT_WITNESSES: `https://w1.example/=${witness.verifierKey}, http://127.0.0.1:9000/w=${witness.verifierKey}`,
    });
    expect(config.transparency).toMatchObject({
      origin: 'audit.example.com/log',
      signingKey: key.signerKey,
      checkpointIntervalMs: 60_000,
      witnesses: [
        { url: 'https://w1.example/', vkey: witness.verifierKey },
        { url: 'http://127.0.0.1:9000/w', vkey: witness.verifierKey },
      ],
    });
    expect(config.transparency.previousKeys).toHaveLength(1);
  });

  it('names every bad value and the fix', () => {
    const problems = problemsOf({
      AUDIT_LOG_ORIGIN: 'has space',
      AUDIT_SIGNING_KEY: 'PRIVATE+KEY+nope',
      AUDIT_PREVIOUS_KEYS: 'x+y+z',
      AUDIT_CHECKPOINT_INTERVAL: '0',
      AUDIT_WITNESSES: `ftp://w=${witness.verifierKey},https://w2.example=${key.verifierKey},no-equals`,
    });
    expect(problems).toEqual([
      expect.stringMatching(/^AUDIT_LOG_ORIGIN must be a name with no spaces/),
      expect.stringMatching(/^AUDIT_SIGNING_KEY: .*strikeguard audit keygen/),
      expect.stringMatching(/^AUDIT_PREVIOUS_KEYS: /),
      expect.stringMatching(/^AUDIT_WITNESSES entry "ftp:.*needs an http\(s\) URL/),
      expect.stringMatching(/^AUDIT_WITNESSES entry "https:\/\/w2.*type/),
      expect.stringMatching(/^AUDIT_WITNESSES entry "no-equals" is not <url>=<witness vkey>/),
      expect.stringMatching(/^AUDIT_CHECKPOINT_INTERVAL /),
    ]);
  });

  it('a key named for another origin is refused with the fix', () => {
    expect(
      problemsOf({ AUDIT_LOG_ORIGIN: 'a.example/log', AUDIT_SIGNING_KEY: key.signerKey }),
    ).toEqual([
      expect.stringMatching(
        /named "audit.example.com\/log" but AUDIT_LOG_ORIGIN is "a.example\/log": set AUDIT_LOG_ORIGIN=audit.example.com\/log/,
      ),
    ]);
  });

  it('production requires AUDIT_SIGNING_KEY', () => {
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: 'k'.repeat(32) })).toEqual([
      expect.stringMatching(/^AUDIT_SIGNING_KEY is required with NODE_ENV=production/),
    ]);
  });

  it('without a key outside production: one generated into DATA_DIR (0600), kept, with a warning', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-key-'));
    try {
      const { config } = loadConfig({ DATA_DIR: dir, AUDIT_LOG_ORIGIN: 'dev.example/audit' });
      const warnings: string[] = [];
      const first = auditSigningKey(config, (m) => warnings.push(m));
      expect(parseSignerKey(first).name).toBe('dev.example/audit');
      const file = path.join(dir, SIGNING_KEY_FILE);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(auditSigningKey(config, (m) => warnings.push(m))).toBe(first);
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toMatch(
        /AUDIT_SIGNING_KEY is not set: .*set AUDIT_SIGNING_KEY to a key kept away from this host/,
      );
      // A kept key for another origin is not silently replaced.
      const other = loadConfig({ DATA_DIR: dir, AUDIT_LOG_ORIGIN: 'other.example/audit' }).config;
      expect(() => auditSigningKey(other, () => {})).toThrow(
        /holds a key for "dev.example\/audit"/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
