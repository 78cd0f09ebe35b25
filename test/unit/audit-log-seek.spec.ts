import fc from 'fast-check';
import fs from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LogFileBytes } from '../../src/audit/audit-log.lines.js';
import { readLogLines } from '../../src/audit/audit-log-reader.js';
import { offsetBefore } from '../../src/audit/audit-log-seek.js';

/**
 * The binary search that lets a verification of one record start near its line. Whatever the
 * file holds, it must never start past the first line of the target (or a tampered line there
 * would go unread), and on an ordered file it must start close to it.
 */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-seek-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A line as the service writes it (id right after hash), padded to about `size` bytes. */
const recordLine = (id: number, size: number) =>
  `{"actorId":null,"details":{"pad":"${'x'.repeat(size)}"},"hash":"${'a'.repeat(64)}","id":${id},"ip":null}`;

interface Layout {
  lines: { id: number | null; text: string }[];
}

const layout = fc
  .array(
    fc.record({
      gap: fc.integer({ min: 1, max: 3 }),
      size: fc.oneof(fc.integer({ min: 50, max: 600 }), fc.integer({ min: 20_000, max: 70_000 })),
      garbage: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, fc.constant(true)),
    }),
    { minLength: 0, maxLength: 400 },
  )
  .map((specs): Layout => {
    let id = 0;
    return {
      lines: specs.map(({ gap, size, garbage }) => {
        if (garbage) return { id: null, text: `{"torn":"${'y'.repeat(size % 700)}` };
        id += gap;
        return { id, text: recordLine(id, size) };
      }),
    };
  });

let n = 0;
async function withFile<T>(l: Layout, work: (file: string, size: number) => Promise<T>) {
  const file = path.join(dir, `log-${n++}`);
  fs.writeFileSync(file, l.lines.map((x) => `${x.text}\n`).join(''));
  try {
    return await work(file, fs.statSync(file).size);
  } finally {
    fs.rmSync(file);
  }
}

/** Offsets of each line, and of the first record line with id ≥ target (size if none). */
function offsets(l: Layout, target: number) {
  const starts: number[] = [];
  let at = 0;
  for (const line of l.lines) {
    starts.push(at);
    at += Buffer.byteLength(line.text) + 1;
  }
  const i = l.lines.findIndex((x) => x.id !== null && x.id >= target);
  return { starts, first: i < 0 ? at : starts[i] };
}

describe('offsetBefore', () => {
  it('never starts past the first line of the target, and always at a line start', async () => {
    await fc.assert(
      fc.asyncProperty(layout, fc.integer({ min: 1, max: 1300 }), async (l, target) => {
        await withFile(l, async (file, size) => {
          const handle = await open(file, 'r');
          try {
            const at = await offsetBefore(
              new LogFileBytes(handle, { bytes: 0, lines: 0 }),
              size,
              target,
            );
            const { starts, first } = offsets(l, target);
            expect(at).toBeLessThanOrEqual(first);
            expect(at === 0 || starts.includes(at)).toBe(true);
          } finally {
            await handle.close();
          }
        });
      }),
      { numRuns: 150 },
    );
  });

  it('on an ordered file of short lines, starts within 16 KiB of the target and reads little', async () => {
    const l: Layout = {
      lines: Array.from({ length: 30_000 }, (_, i) => ({
        id: i + 1,
        text: recordLine(i + 1, 300),
      })),
    };
    await withFile(l, async (file, size) => {
      for (const target of [1, 2, 777, 15_000, 29_999, 30_000, 40_000]) {
        const stats = { bytes: 0, lines: 0 };
        const handle = await open(file, 'r');
        try {
          const at = await offsetBefore(new LogFileBytes(handle, stats), size, target);
          const { first } = offsets(l, target);
          expect([target, at <= first && first - at <= 16 * 1024]).toEqual([target, true]);
          expect([target, stats.lines <= 20, stats.bytes <= 32 * 1024]).toEqual([
            target,
            true,
            true,
          ]);
        } finally {
          await handle.close();
        }
      }
    });
  });
});

describe('readLogLines from an id', () => {
  it('meets every line from the target on, as a read from the start does', async () => {
    await fc.assert(
      fc.asyncProperty(layout, fc.integer({ min: 1, max: 1300 }), async (l, target) => {
        await withFile(l, async (file) => {
          const all: string[] = [];
          for await (const line of readLogLines([file])) all.push(`${line.offset}:${line.text}`);
          const from: string[] = [];
          for await (const line of readLogLines([file], { fromId: target })) {
            from.push(`${line.offset}:${line.text}`);
          }
          // a suffix of the whole read, holding every line from the target's first line on
          expect(all.slice(all.length - from.length)).toEqual(from);
          const { first } = offsets(l, target);
          const needed = all.filter((x) => Number(x.split(':')[0]) >= first);
          expect(from.length).toBeGreaterThanOrEqual(needed.length);
        });
      }),
      { numRuns: 100 },
    );
  });
});
