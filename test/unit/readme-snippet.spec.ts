import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MARKER = '<!-- host-app snippet: compiled by test/unit/readme-snippet.spec.ts -->';

/** The ```ts block right after the marker in the README, exactly as a reader copies it. */
function snippet(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(MARKER);
  if (at < 0) throw new Error(`README.md has no "${MARKER}"`);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block) throw new Error('no ```ts block after the marker');
  return block[1];
}

describe('the README host-app snippet', () => {
  it('compiles as written, against the public entry points', () => {
    // Inside the repository, so its node_modules resolve as they would in a host's.
    fs.mkdirSync(path.join(ROOT, 'dist'), { recursive: true });
    const dir = fs.mkdtempSync(path.join(ROOT, 'dist', 'readme-snippet-'));
    const file = path.join(dir, 'app.module.ts');
    fs.writeFileSync(file, snippet());
    try {
      const program = ts.createProgram([file], {
        target: ts.ScriptTarget.ES2023,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        strict: true,
        experimentalDecorators: true,
        emitDecoratorMetadata: true,
        skipLibCheck: true,
        noEmit: true,
        types: ['node'],
        // What `npm install strikeguard` resolves the two entry points to.
        paths: {
          strikeguard: [path.join(ROOT, 'src/index.ts')],
          'strikeguard/rest': [path.join(ROOT, 'src/rest/index.ts')],
        },
      });
      const problems = ts
        .getPreEmitDiagnostics(program)
        .filter((d) => d.file?.fileName === file || !d.file)
        .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      expect(problems).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
