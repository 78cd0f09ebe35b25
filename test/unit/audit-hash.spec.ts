import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { hashAndLine, hashRecord, recordLine } from '../../src/audit/audit-hash.js';
import { type AuditRecord } from '../../src/audit/audit-record.js';
import { canonicalJson } from '../../src/audit/jcs.js';

const reference = canonicalize as unknown as (v: unknown) => string;

const record = (details: Record<string, unknown> | null): AuditRecord => ({
  id: 7,
  occurredAt: '2026-11-25T10:00:00.000Z',
  type: 'x.y',
  userId: 'u',
  actorId: null,
  outcome: 'success',
  threat: 'none',
  ip: null,
  method: 'POST',
  path: '/p',
  entityType: null,
  targetId: null,
  location: null,
  description: 'd',
  details,
  prevHash: '0'.repeat(64),
  hash: 'a'.repeat(64),
});

describe('canonical JSON and the record hash', () => {
  it('agrees with an independent RFC 8785 implementation on any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      { numRuns: 2000, seed: 8785 },
    );
  });

  it('gives the same hash and line from one canonicalisation as from two', () => {
    fc.assert(
      fc.property(
        fc.option(fc.dictionary(fc.string(), fc.jsonValue()), { nil: null }),
        (details) => {
          const r = record(details as Record<string, unknown> | null);
          expect(hashAndLine(r)).toEqual({ hash: hashRecord(r), line: recordLine(r) });
        },
      ),
      { numRuns: 1000, seed: 2026 },
    );
  });
});
