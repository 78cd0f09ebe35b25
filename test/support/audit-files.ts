import fs from 'node:fs';
import path from 'node:path';

/** Every record line of the audit log files in `dir` (rotated files first), parsed. */
export function readAuditLog(dir: string, fileName = 'audit.log'): any[] {
  const names = fs
    .readdirSync(dir)
    .filter((n) => (n === fileName || n.startsWith(`${fileName}.`)) && !n.endsWith('.lock'))
    .sort((a, b) => (a === fileName ? 1 : b === fileName ? -1 : a.localeCompare(b)));
  return names.flatMap((n) =>
    fs
      .readFileSync(path.join(dir, n), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line)),
  );
}

/** A valid event as another system would submit it. */
export function externalEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'ext.payment',
    userId: 'customer-42',
    entityType: 'invoice',
    ip: '203.0.113.7',
    location: 'Lyon',
    description: 'invoice paid',
    details: { amount: 12.5, currency: 'EUR' },
    ...overrides,
  };
}
