import { jest } from '@jest/globals';
import { Test, type TestingModule } from '@nestjs/testing';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditLogFile, type LastLogRecord } from '../../src/audit/audit-log-file.js';
import { type AuditRecord, type UnchainedRecord } from '../../src/audit/audit-record.js';
import { AuditStore } from '../../src/audit/audit-store.js';
import { AuditVerifier } from '../../src/audit/audit-verifier.js';
import { AuditWriter } from '../../src/audit/audit-writer.js';
import {
  AUDIT_OPTIONS,
  AuditLogForeignError,
  AuditMigrationsMissingError,
  AuditModule,
  AuditService,
  type ResolvedAuditOptions,
  STRIKEGUARD_DATA_SOURCE,
} from '../../src/index.js';

/**
 * AuditModule's collaborators are providers: a test replaces any of them with overrideProvider()
 * and AuditService works with the replacement. No database here: the DataSource is a fake too.
 */

const HASH = 'c'.repeat(64);

class FakeLogFile {
  path = '/fake/audit.log';
  broken: Error | null = null;
  onBroken: (() => void) | null = null;
  lastId = 0;
  last: LastLogRecord | null = { file: this.path, id: 3, hash: HASH };
  opened = 0;
  recovered: AuditRecord[] = [];
  async open(check?: (last: LastLogRecord | null) => Promise<void>) {
    await check?.(this.last);
    this.opened++;
    this.lastId = this.last?.id ?? 0;
    return [];
  }
  async appendRecovered(records: AuditRecord[]) {
    this.recovered.push(...records);
    if (records.length) this.lastId = records[records.length - 1].id;
  }
  files() {
    return ['/fake/audit.log.1', '/fake/audit.log'];
  }
  writable() {
    return false;
  }
  async close() {}
}

function fakeStore(overrides: Partial<Record<keyof AuditStore, unknown>> = {}) {
  return {
    missingTables: jest.fn(async () => ({ missing: [] as string[], database: 'fake' })),
    chainPosition: jest.fn(async (id: number) => ({
      database: 'fake',
      lastId: 5,
      hashAtId: id === 3 ? HASH : null,
    })),
    byInstanceAfter: jest.fn(async (): Promise<AuditRecord[]> => []),
    search: jest.fn(async () => ({ items: [], nextCursor: null })),
    headId: jest.fn(async () => 5),
    ...overrides,
  };
}

const fakeWriter = () => ({
  append: jest.fn(async (records: UnchainedRecord[]) =>
    records.map((r, i) => ({ ...r, id: 100 + i, prevHash: HASH, hash: HASH })),
  ),
  appendInTransaction: jest.fn(),
});

const fakeVerifier = () => ({
  verify: jest.fn(async () => ({ ok: true, checked: 42 })),
});

let logDir: string;
let modules: TestingModule[] = [];
beforeEach(() => {
  logDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sg-unit-mod-')), 'audit');
});
afterEach(async () => {
  for (const m of modules) await m.close();
  modules = [];
  fs.rmSync(path.dirname(logDir), { recursive: true, force: true });
});

/** AuditModule with every collaborator that touches a database or a file replaced. */
async function compile(
  parts: {
    file?: FakeLogFile;
    store?: ReturnType<typeof fakeStore>;
    writer?: ReturnType<typeof fakeWriter>;
    verifier?: ReturnType<typeof fakeVerifier>;
    options?: ResolvedAuditOptions;
  } = {},
) {
  let builder = Test.createTestingModule({
    imports: [AuditModule.forRoot({ logDir, fsync: false, instanceId: 'unit-1' })],
  })
    .overrideProvider(STRIKEGUARD_DATA_SOURCE)
    .useValue({ subscribers: [], query: jest.fn() })
    .overrideProvider(AuditStore)
    .useValue(parts.store ?? fakeStore())
    .overrideProvider(AuditLogFile)
    .useValue(parts.file ?? new FakeLogFile())
    .overrideProvider(AuditWriter)
    .useValue(parts.writer ?? fakeWriter())
    .overrideProvider(AuditVerifier)
    .useValue(parts.verifier ?? fakeVerifier());
  if (parts.options) builder = builder.overrideProvider(AUDIT_OPTIONS).useValue(parts.options);
  const moduleRef = await builder.compile();
  modules.push(moduleRef);
  return moduleRef;
}

describe('AuditModule providers can be overridden', () => {
  it('AuditService uses the overriding AuditLogFile, AuditStore, AuditWriter and AuditVerifier', async () => {
    const file = new FakeLogFile();
    const store = fakeStore({
      byInstanceAfter: jest.fn(async (_instance: string, after: number) =>
        after < 5 ? [{ id: 5 } as AuditRecord] : [],
      ),
    });
    const writer = fakeWriter();
    const verifier = fakeVerifier();
    const moduleRef = await compile({ file, store, writer, verifier });
    await moduleRef.init();
    const audit = moduleRef.get(AuditService);

    // start: migrations checked, file opened through the chain check, then caught up
    expect(store.missingTables).toHaveBeenCalledTimes(1);
    expect(store.chainPosition).toHaveBeenCalledWith(3);
    expect(file.opened).toBe(1);
    expect(store.byInstanceAfter).toHaveBeenCalledWith('unit-1', 3, 5000, undefined);
    expect(file.recovered.map((r) => r.id)).toEqual([5]);

    expect(audit.logWritable()).toBe(false); // the fake file says so
    const recorded = await audit.record({ type: 'unit.event', userId: 'u1' });
    expect(recorded).toMatchObject({ id: 100, type: 'unit.event', outcome: 'success' });
    expect(writer.append).toHaveBeenCalledTimes(1);
    expect(await audit.verify({ fromId: 2 })).toEqual({ ok: true, checked: 42 });
    expect(verifier.verify).toHaveBeenCalledWith(
      { fromId: 2 },
      { instanceId: 'unit-1', files: file.files(), lastId: 5 },
      expect.any(Function), // progress
      { bytes: 0, lines: 0 }, // what it read of the files (the fake read nothing)
    );
    expect(store.headId).toHaveBeenCalledTimes(1); // an open range: sized by the chain head
    await audit.find({ limit: 3 });
    expect(store.search).toHaveBeenCalledWith({ limit: 3 });
  });

  it('the options are resolved in AUDIT_OPTIONS; the real AuditLogFile and AuditService are built from them', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [AuditModule.forRoot({ logDir, logFile: 'unit.log' })],
    })
      .overrideProvider(STRIKEGUARD_DATA_SOURCE)
      .useValue({ subscribers: [], query: jest.fn() })
      .compile();
    modules.push(moduleRef);
    const options = moduleRef.get<ResolvedAuditOptions>(AUDIT_OPTIONS);
    expect(options).toMatchObject({
      logDir,
      logFile: 'unit.log',
      fsync: true,
      maxBatchEvents: 2000,
    });
    expect(moduleRef.get(AuditLogFile).path).toBe(path.join(logDir, 'unit.log'));
    expect(moduleRef.get(AuditService).instanceId).toBe(options.instanceId);
  });

  it('AUDIT_OPTIONS itself can be overridden', async () => {
    const moduleRef = await compile({
      options: {
        logDir,
        logFile: 'x.log',
        logMaxBytes: 1,
        fsync: false,
        instanceId: 'overridden',
        actorOf: () => 'someone',
        maxBatchEvents: 1,
        maxPendingEvents: 1,
        verifyChunkSize: 1,
        redactKeys: ['colour'],
        dataSource: undefined,
      },
    });
    const audit = moduleRef.get(AuditService);
    expect(audit.instanceId).toBe('overridden');
    expect(audit.redact({ colour: 'red', password: 'kept' })).toEqual({
      colour: '[REDACTED]',
      password: 'kept',
    });
  });

  it('a log file of another chain is refused at init: no catch-up', async () => {
    const file = new FakeLogFile();
    const store = fakeStore({
      chainPosition: jest.fn(async () => ({ database: 'other', lastId: 0, hashAtId: null })),
    });
    const moduleRef = await compile({ file, store });
    await expect(moduleRef.init()).rejects.toThrow(AuditLogForeignError);
    expect(file.opened).toBe(0);
    expect(store.byInstanceAfter).not.toHaveBeenCalled();
  });

  it('missing migrations are refused at init, before the file is opened', async () => {
    const file = new FakeLogFile();
    const store = fakeStore({
      missingTables: jest.fn(async () => ({ missing: ['audit_events'], database: 'db1' })),
    });
    const moduleRef = await compile({ file, store });
    await expect(moduleRef.init()).rejects.toThrow(AuditMigrationsMissingError);
    expect(file.opened).toBe(0);
    expect(store.chainPosition).not.toHaveBeenCalled();
  });
});
