import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../support/service-process.js';

/**
 * `strikeguard/reader` and the CLI's audit commands must start without Nest or TypeORM (issue 13:
 * `audit tail -n 1` in well under a second). Checked on the compiled output (`npm test` builds
 * it first): the packages reachable from the entry through static imports, as Node loads them.
 */
function staticPackages(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = fs.readFileSync(file, 'utf8');
    for (const m of source.matchAll(
      /^\s*(?:import|export)\s(?:[^'"]*?\sfrom\s)?['"]([^'"]+)['"]/gm,
    )) {
      const spec = m[1];
      if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec));
      else
        packages.add(
          spec
            .split('/')
            .slice(0, spec.startsWith('@') ? 2 : 1)
            .join('/'),
        );
    }
  };
  visit(path.join(PROJECT_ROOT, 'dist', 'src', entry));
  return packages;
}

describe('the Nest-free entry points', () => {
  for (const entry of ['reader.js', 'cli/main.js']) {
    it(`${entry} loads neither Nest nor TypeORM nor prom-client`, () => {
      const packages = [...staticPackages(entry)];
      expect(packages.filter((p) => /^@nestjs\/|^typeorm$|^prom-client$|^rxjs$/.test(p))).toEqual(
        [],
      );
      expect(packages).toContain(entry === 'reader.js' ? 'node:crypto' : 'pg');
    });
  }

  it('the main entry does load them (the check can fail)', () => {
    expect([...staticPackages('index.js')]).toEqual(
      expect.arrayContaining(['@nestjs/common', '@nestjs/typeorm', 'prom-client']),
    );
  });
});
