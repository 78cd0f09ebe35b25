import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { request, type TestResponse } from '../support/http.js';
import {
  createTestDatabase,
  describeWithPostgres,
  query,
  type TestDatabase,
} from '../support/postgres.js';
import { freePort, PROJECT_ROOT } from '../support/service-process.js';

// The package tier: what a NestJS team gets from `npm pack`. The repository (as a fresh clone
// would have it: tracked and unignored files, no dist/) is packed — the prepack build runs — and
// the tarball installed into a throwaway host app pinned to another Nest 12 minor than ours: the
// official samples 19-auth-jwt + 05-sql-typeorm (test/package/host-app), integer user ids, the
// auth guard global in its own AuthModule, strikeguard wired in the root module, and the host's
// own catch-all filter. The host imports only 'strikeguard'.

const HOST_APP = path.join(PROJECT_ROOT, 'test', 'package', 'host-app');
const TSC = path.join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NPM_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline'];
const MIB = 1024 * 1024;
const MINUTE = 60_000;
const PASSWORD = 'correct-horse-battery';
const JWT_SECRET = 'packed-host-test-secret-0123456789abcdef0123456789';

/** The library's own outputs, and the three files npm always ships. */
const SHIPPED =
  /^(package\.json|README\.md|LICENSE|dist\/src\/(index|reader)\.(js|d\.ts)|dist\/src\/(strikes|audit|common|login|transparency|alerts|rest|cli)\/.+\.(js|d\.ts|js\.map)|dist\/migrations\/.+\.(js|d\.ts|js\.map))$/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment a shell would give: nothing of the `npm test` that runs this file. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || /^(npm_|NODE_OPTIONS$|INIT_CWD$|DATABASE_URL$|AUDIT_)/i.test(name))
      continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

/** Runs a command to its end (SIGKILL after `timeoutMs`). */
function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(
      () => {
        stderr += `\n[killed after ${options.timeoutMs} ms]`;
        child.kill('SIGKILL');
      },
      options.timeoutMs ?? 5 * MINUTE,
    );
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: `${stderr}\n[spawn failed: ${error.message}]` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const npm = (args: string[], cwd: string, timeoutMs = 6 * MINUTE) =>
  run('npm', args, { cwd, timeoutMs });

/** Fails with the command's output, so a broken install says why. */
function expectOk(what: string, result: Run): void {
  if (result.code !== 0) {
    throw new Error(
      `${what} exited ${result.code}\n--- stdout\n${result.stdout.slice(-4000)}\n--- stderr\n${result.stderr.slice(-4000)}`,
    );
  }
}

/**
 * A fresh clone of the working tree: what git tracks plus new files it does not ignore (so no
 * dist/, node_modules/, var/), with the repository's node_modules linked in for the build.
 */
function copyRepository(dest: string): void {
  let files: string[] | null;
  try {
    files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: PROJECT_ROOT,
      maxBuffer: 64 * MIB,
    })
      .toString('utf8')
      .split('\0')
      .filter(Boolean);
  } catch {
    files = null; // not a git checkout: copy the tree without what git would ignore
  }
  if (files) {
    for (const file of files) {
      const from = path.join(PROJECT_ROOT, file);
      if (!fs.existsSync(from) || !fs.lstatSync(from).isFile()) continue; // deleted, not yet staged
      fs.mkdirSync(path.dirname(path.join(dest, file)), { recursive: true });
      fs.copyFileSync(from, path.join(dest, file));
      fs.chmodSync(path.join(dest, file), fs.statSync(from).mode);
    }
  } else {
    fs.cpSync(PROJECT_ROOT, dest, {
      recursive: true,
      filter: (src) =>
        !/^(node_modules|dist|\.git|var|data|coverage)$/.test(
          path.relative(PROJECT_ROOT, src).split(path.sep)[0] ?? '',
        ),
    });
  }
  fs.symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(dest, 'node_modules'), 'dir');
}

/** Entries of a .tgz: path (without `package/`) and mode, read from the tar headers. */
function tarEntries(file: string): { path: string; mode: number }[] {
  const tar = gunzipSync(fs.readFileSync(file));
  const entries: { path: string; mode: number }[] = [];
  const text = (start: number, length: number) =>
    tar
      .subarray(start, start + length)
      .toString('utf8')
      .replace(/\0[\s\S]*$/, '');
  for (let at = 0; at + 512 <= tar.length;) {
    const name = text(at, 100);
    if (!name) break; // the two zero blocks at the end
    const size = parseInt(text(at + 124, 12).trim() || '0', 8);
    const type = text(at + 156, 1) || '0';
    const prefix = text(at + 345, 155);
    if (type === '0') {
      entries.push({
        path: (prefix ? `${prefix}/${name}` : name).replace(/^package\//, ''),
        mode: parseInt(text(at + 100, 8).trim(), 8),
      });
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

/** Packages in a host's tree (package-lock.json `packages`, links excluded) and node_modules bytes. */
function measure(hostDir: string): { packages: string[]; bytes: number } {
  const lock = JSON.parse(fs.readFileSync(path.join(hostDir, 'package-lock.json'), 'utf8'));
  const packages = Object.entries(lock.packages as Record<string, { link?: boolean }>)
    .filter(([key, entry]) => key.startsWith('node_modules/') && !entry.link)
    .map(([key]) => key)
    .sort();
  let bytes = 0;
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else bytes += fs.lstatSync(full).size;
    }
  };
  walk(path.join(hostDir, 'node_modules'));
  return { packages, bytes };
}

/** Every copy of a package in a tree, from its lock file: `node_modules/…/node_modules/<name>`. */
function copiesIn(packages: string[], name: string): string[] {
  return packages.filter(
    (key) => key === `node_modules/${name}` || key.endsWith(`/node_modules/${name}`),
  );
}

/** An HS256 token signed as the host's AuthService signs them. */
function hostToken(payload: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ ...payload, iat: now, exp: now + 600 })}`;
  return `${unsigned}.${createHmac('sha256', JWT_SECRET).update(unsigned).digest('base64url')}`;
}

const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));

/** How each refusal may be worded once the host's filter renders it: its reason, or its message. */
const REFUSAL_WORDING: Record<string, RegExp> = {
  session_terminated: /session_terminated|session (was|has been) terminated/i,
  account_blocked: /account_blocked|account is blocked/i,
};

/**
 * strikeguard's refusal, whichever filter renders it: the status, `statusCode` in the body, and
 * the reason — as a `reason` field when the library's body comes through, or named by the message
 * when the host's filter renders it in the host's shape (that filter keeps `statusCode`, `error`
 * and `message`, not unknown fields).
 */
function expectRefusal(res: TestResponse, status: number, reason: string): void {
  const body = res.body ?? {};
  const named = body.reason === reason || REFUSAL_WORDING[reason].test(String(body.message ?? ''));
  expect({ status: res.status, statusCode: body.statusCode, named, body }).toEqual({
    status,
    statusCode: status,
    named: true,
    body,
  });
}

describeWithPostgres('the packed package installed into a Nest 12.4 host app', () => {
  let work: string;
  let tarball: string;
  let pack: {
    size: number;
    unpackedSize: number;
    entryCount: number;
    files: { path: string }[];
  };
  let hostDir: string;
  let installed: { packages: string[]; bytes: number } | undefined;
  let compiled: Run | undefined;
  let db: TestDatabase | undefined;
  let logDir: string;
  let host: { child: ChildProcess; base: string; output: () => string } | undefined;
  const facts: Record<string, unknown> = {};

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-packed-host-'));
    const repo = path.join(work, 'repo');
    copyRepository(repo);
    expect(fs.existsSync(path.join(repo, 'dist'))).toBe(false); // only prepack can build it
    const packed = await npm(['pack', '--json', '--pack-destination', work], repo);
    expectOk('npm pack', packed);
    // Lifecycle scripts log to stderr under --json; stdout is the JSON array (from its first `[`).
    [pack] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')));
    tarball = path.join(work, (pack as unknown as { filename: string }).filename);
    hostDir = path.join(work, 'host');
    logDir = path.join(work, 'host-audit');
  }, 6 * MINUTE);

  afterAll(async () => {
    if (host && host.child.exitCode === null && host.child.signalCode === null) {
      host.child.kill('SIGKILL');
      await new Promise((resolve) => host!.child.once('close', resolve));
    }
    await db?.drop();
    console.log(`packed-host facts: ${JSON.stringify(facts)}`);
    if (work && !process.env.SG_KEEP_PACKED_HOST) fs.rmSync(work, { recursive: true, force: true });
  });

  it('npm pack builds (prepack) and ships the library alone: compiled JS and .d.ts, migrations, CLI, README, LICENSE', () => {
    const entries = tarEntries(tarball);
    const paths = entries.map((e) => e.path).sort();
    expect(paths).toEqual(pack.files.map((f) => f.path).sort());
    facts.tarballBytes = pack.size;
    facts.unpackedBytes = pack.unpackedSize;
    facts.files = pack.entryCount;
    console.log(
      `tarball ${path.basename(tarball)}: ${pack.size} bytes (${(pack.size / 1024).toFixed(1)} KiB), ` +
        `${pack.entryCount} files, ${(pack.unpackedSize / 1024).toFixed(1)} KiB unpacked`,
    );

    expect(paths.filter((p) => !SHIPPED.test(p))).toEqual([]);
    expect(paths.filter((p) => /^(dist\/)?(src\/app|test|bench|\.ci)\//.test(p))).toEqual([]);
    expect(paths.filter((p) => /\.ts$/.test(p) && !p.endsWith('.d.ts'))).toEqual([]);
    expect(paths.filter((p) => /tsbuildinfo|ormconfig/.test(p))).toEqual([]);
    for (const required of [
      'package.json',
      'README.md',
      'LICENSE',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/cli/main.js',
      'dist/src/strikes/strikes.module.js',
      'dist/src/audit/audit.module.js',
      'dist/migrations/index.js',
      'dist/migrations/1764100001000-create-audit-events.js',
      'dist/migrations/1764100003000-create-strike-counters.js',
    ]) {
      expect(paths).toContain(required);
    }
    // The service's own tables are not the library's.
    expect(paths.filter((p) => /create-users|create-service-tokens/.test(p))).toEqual([]);
    // The bin is executable in the tarball and starts with its shebang.
    const bin = entries.find((e) => e.path === 'dist/src/cli/main.js')!;
    expect((bin.mode & 0o111).toString(8)).toBe('111');

    const manifest = JSON.parse(
      execFileSync('tar', ['-xzOf', tarball, 'package/package.json']).toString('utf8'),
    );
    expect(manifest.private).toBeUndefined();
    expect(manifest.license).toBe('MIT');
    expect(manifest.bin).toEqual({ strikeguard: 'dist/src/cli/main.js' });
    expect(manifest.exports['.']).toEqual({
      types: './dist/src/index.d.ts',
      default: './dist/src/index.js',
    });
    expect(Object.keys(manifest.dependencies).sort()).toEqual([
      'ajv',
      'ajv-formats',
      'prom-client',
    ]);
    for (const peer of [
      '@nestjs/common',
      '@nestjs/core',
      '@nestjs/typeorm',
      'typeorm',
      'pg',
      'rxjs',
      'reflect-metadata',
    ]) {
      expect({ peer, range: manifest.peerDependencies[peer] }).toEqual({
        peer,
        range: expect.stringMatching(/^\^\d/),
      });
      expect(manifest.peerDependenciesMeta?.[peer]).toBeUndefined();
    }
    expect(manifest.peerDependenciesMeta['@nestjs/swagger']).toEqual({ optional: true });
    const main = execFileSync('tar', ['-xzOf', tarball, 'package/dist/src/cli/main.js']).toString(
      'utf8',
    );
    expect(main.split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it(
    'installs into the host: at most 15 packages and 15 MiB added, exactly one @nestjs/core',
    async () => {
      fs.mkdirSync(hostDir, { recursive: true });
      fs.cpSync(HOST_APP, hostDir, { recursive: true });
      const manifest = JSON.parse(fs.readFileSync(path.join(hostDir, 'package.json'), 'utf8'));
      const ours = JSON.parse(
        fs.readFileSync(path.join(PROJECT_ROOT, 'node_modules/@nestjs/core/package.json'), 'utf8'),
      ).version as string;
      // The host is on another Nest 12 minor than the repository.
      for (const name of ['@nestjs/common', '@nestjs/core', '@nestjs/platform-express'])
        expect(manifest.dependencies[name]).toBe('12.4.2');
      expect(ours.split('.')[0]).toBe('12');
      expect(ours.split('.')[1]).not.toBe('4');

      expectOk('npm install (host)', await npm(['install', ...NPM_FLAGS], hostDir));
      const before = measure(hostDir);
      expectOk('npm install <tarball>', await npm(['install', ...NPM_FLAGS, tarball], hostDir));
      const after = (installed = measure(hostDir));
      const added = after.packages.filter((p) => !before.packages.includes(p));
      const addedBytes = after.bytes - before.bytes;
      Object.assign(facts, {
        hostPackagesBefore: before.packages.length,
        hostPackagesAfter: after.packages.length,
        packagesAdded: added.length,
        mibAdded: Number((addedBytes / MIB).toFixed(2)),
        added: added.map((p) => p.replace(/^node_modules\//, '')),
      });
      console.log(
        `host: ${before.packages.length} packages, ${(before.bytes / MIB).toFixed(1)} MiB; ` +
          `strikeguard adds ${added.length} packages, ${(addedBytes / MIB).toFixed(2)} MiB: ` +
          added.map((p) => p.replace(/^node_modules\//, '')).join(', '),
      );
      expect(added).toContain('node_modules/strikeguard');
      expect(before.packages.filter((p) => !after.packages.includes(p))).toEqual([]);
      expect(added.length).toBeLessThanOrEqual(15);
      expect(addedBytes).toBeLessThanOrEqual(15 * MIB);

      // One copy of each framework package: the host's, at the host's version.
      const ls = await npm(['ls', '@nestjs/core', '--all', '--json'], hostDir, MINUTE);
      expectOk('npm ls @nestjs/core', ls);
      const versions = new Set<string>();
      const walk = (node: { dependencies?: Record<string, any> }) => {
        for (const [name, dep] of Object.entries(node.dependencies ?? {})) {
          if (name === '@nestjs/core') versions.add(dep.version);
          walk(dep);
        }
      };
      walk(JSON.parse(ls.stdout));
      const parseable = await npm(['ls', '@nestjs/core', '--all', '--parseable'], hostDir, MINUTE);
      const locations = [
        ...new Set(parseable.stdout.split('\n').filter((l) => l.endsWith('@nestjs/core'))),
      ];
      facts.nestCoreCopies = locations.length;
      expect([...versions]).toEqual(['12.4.2']);
      expect(locations).toEqual([path.join(hostDir, 'node_modules', '@nestjs', 'core')]);
      expect(
        fs.existsSync(path.join(hostDir, 'node_modules/strikeguard/node_modules/@nestjs')),
      ).toBe(false);
      for (const name of [
        '@nestjs/core',
        '@nestjs/common',
        '@nestjs/typeorm',
        'typeorm',
        'pg',
        'rxjs',
        'reflect-metadata',
      ]) {
        expect({ name, copies: copiesIn(after.packages, name) }).toEqual({
          name,
          copies: [`node_modules/${name}`],
        });
      }
      // No peer left missing or invalid, and the optional swagger peer is not pulled in.
      expectOk('npm ls --all', await npm(['ls', '--all'], hostDir, MINUTE));
      expect(after.packages).not.toContain('node_modules/@nestjs/swagger');
    },
    15 * MINUTE,
  );

  it("the packaged CLI runs from node_modules/.bin with only the host's packages: --help", async () => {
    expect(installed).toBeDefined();
    const bin = path.join(hostDir, 'node_modules', '.bin', 'strikeguard');
    const help = await run(bin, ['--help'], { cwd: hostDir });
    expect({ code: help.code, stderr: help.stderr }).toEqual({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/strikeguard audit verify/);
    expect(help.stdout).toMatch(/strikes enroll-missing \[--users-table T\] \[--id-column C\]/);
    const bad = await run(bin, ['audit', 'nonsense'], { cwd: hostDir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^strikeguard: unknown command/);
    // strikeguard/reader, the Nest-free entry, through the exports map from the host.
    const reader = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const r = await import('strikeguard/reader'); console.log([typeof r.auditReader, typeof r.verifyInclusion, typeof r.poolDataSource].join(' '))",
      ],
      { cwd: hostDir },
    );
    expect({ code: reader.code, stdout: reader.stdout.trim(), stderr: reader.stderr }).toEqual({
      code: 0,
      stdout: 'function function function',
      stderr: '',
    });
  });

  it(
    "the host compiles against the package (its types through the exports map, the repository's tsc)",
    async () => {
      expect(installed).toBeDefined();
      compiled = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], {
        cwd: hostDir,
        timeoutMs: 3 * MINUTE,
      });
      // tsc emits even with type errors, so the scenario below runs whatever this test says.
      expect({ code: compiled.code, errors: compiled.stdout + compiled.stderr }).toEqual({
        code: 0,
        errors: '',
      });
    },
    4 * MINUTE,
  );

  it(
    'the host starts (compiled) on a fresh database: its migration and strikeguardMigrations run',
    async () => {
      expect(compiled).toBeDefined();
      expect(fs.existsSync(path.join(hostDir, 'dist', 'main.js'))).toBe(true);
      db = await createTestDatabase('packed_host');
      const port = await freePort();
      let output = '';
      const child = spawn(process.execPath, ['dist/main.js'], {
        cwd: hostDir,
        env: cleanEnv({
          DATABASE_URL: db.url,
          AUDIT_LOG_DIR: logDir,
          JWT_SECRET,
          PORT: String(port),
        }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
      host = { child, base: `http://127.0.0.1:${port}`, output: () => output };
      const deadline = Date.now() + 90_000;
      while (!/host listening on/.test(output)) {
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
          throw new Error(`the host did not start (exit ${child.exitCode}); output:\n${output}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const tables = await query<{ t: string }>(
        db.url,
        `SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`,
      );
      expect(tables.map((r) => r.t)).toEqual(
        expect.arrayContaining(['audit_events', 'migrations', 'strike_counters', 'users']),
      );
    },
    2 * MINUTE,
  );

  describe('in the host: 3 strikes end the session, 12 block the account', () => {
    const call = (
      method: string,
      route: string,
      options: { token?: string; body?: unknown } = {},
    ) => {
      if (!host) throw new Error('the host is not running (see the tests above)');
      return request(host.base, method, route, options);
    };
    const login = (username: string) =>
      call('POST', '/auth/login', { body: { username, password: PASSWORD } });
    const counter = async (id: number) =>
      (
        await query<{ count: number; blocker: number; status: string; session_version: number }>(
          db!.url,
          'SELECT count, blocker, status, session_version FROM strike_counters WHERE user_id = $1',
          [String(id)],
        )
      )[0];
    const hostForbidden = {
      host: true,
      statusCode: 403,
      error: 'Forbidden',
      message: 'this area needs the role admin',
      path: '/admin',
    };
    let alice: { id: number; token?: string } | undefined;

    it("register (counter enrolled in the same transaction) and login: the token's sub is a number", async () => {
      const reg = await call('POST', '/auth/register', {
        body: { username: 'alice', password: PASSWORD },
      });
      expect({ status: reg.status, body: reg.body }).toEqual({
        status: 201,
        body: { id: expect.any(Number), username: 'alice' },
      });
      alice = { id: reg.body.id };
      expect(await counter(alice.id)).toEqual({
        count: 0,
        blocker: 0,
        status: 'active',
        session_version: 0,
      });

      const res = await login('alice');
      expect({ status: res.status, body: res.body }).toEqual({
        status: 200,
        body: { access_token: expect.any(String), device_token: expect.stringMatching(/^sgd1\./) },
      });
      alice.token = res.body.access_token;
      expect(claimsOf(alice.token!)).toMatchObject({ sub: alice.id, sv: 0, username: 'alice' });
      expect(typeof claimsOf(alice.token!).sub).toBe('number');
      const profile = await call('GET', '/profile', { token: alice.token });
      expect(profile.status).toBe(200);
      expect(profile.body).toMatchObject({ sub: alice.id, sv: 0, username: 'alice' });
    });

    it("3 × GET /admin: the host's 403 each time, charged; then the old token gets 401 session_terminated", async () => {
      if (!alice?.token) throw new Error('no token: register/login failed above');
      for (let strike = 1; strike <= 3; strike++) {
        const res = await call('GET', '/admin', { token: alice.token });
        expect({ strike, status: res.status, body: res.body }).toEqual({
          strike,
          status: 403,
          body: hostForbidden,
        });
      }
      expect(await counter(alice.id)).toEqual({
        count: 0,
        blocker: 3,
        status: 'active',
        session_version: 1,
      });
      expectRefusal(
        await call('GET', '/profile', { token: alice.token }),
        401,
        'session_terminated',
      );
      // The refusal is not a violation, even on the route that charges.
      expectRefusal(await call('GET', '/admin', { token: alice.token }), 401, 'session_terminated');
      expect(await counter(alice.id)).toMatchObject({ blocker: 3 });
    });

    it('log in again and go on to 12 strikes: the token is refused and the login is refused, 403 account_blocked', async () => {
      if (!alice) throw new Error('no user: registration failed above');
      let strikes = (await counter(alice.id)).blocker;
      expect(strikes).toBe(3);
      let token = '';
      while (strikes < 12) {
        const res = await login('alice');
        expect({ strikes, status: res.status }).toEqual({ strikes, status: 200 });
        token = res.body.access_token;
        expect(claimsOf(token)).toMatchObject({ sub: alice.id, sv: strikes / 3 });
        for (let i = 0; i < 3; i++) {
          const denied = await call('GET', '/admin', { token });
          expect({ strike: ++strikes, status: denied.status, body: denied.body }).toEqual({
            strike: strikes,
            status: 403,
            body: hostForbidden,
          });
        }
        if (strikes < 12) {
          expectRefusal(await call('GET', '/profile', { token }), 401, 'session_terminated');
        }
      }
      expect(await counter(alice.id)).toEqual({
        count: 0,
        blocker: 12,
        status: 'blocked',
        session_version: 4,
      });
      expectRefusal(await call('GET', '/profile', { token }), 403, 'account_blocked');
      expectRefusal(await login('alice'), 403, 'account_blocked');
      const types = (
        await query<{ type: string }>(
          db!.url,
          'SELECT type FROM audit_events WHERE user_id = $1 ORDER BY id',
          [String(alice.id)],
        )
      ).map((r) => r.type);
      expect(types.filter((t) => t === 'strike.recorded')).toHaveLength(12);
      expect(types.filter((t) => t === 'session.terminated')).toHaveLength(4);
      expect(types.filter((t) => t === 'account.blocked')).toHaveLength(1);
    });

    it("the host's own error bodies are intact, and neither a host 500 nor an admin's pass is a strike", async () => {
      const reg = await call('POST', '/auth/register', {
        body: { username: 'bob', password: PASSWORD },
      });
      expect(reg.status).toBe(201);
      const bob = reg.body.id as number;
      // Signed as the host's AuthService signs (sub, sv, username): this check does not depend on
      // the login gate.
      const token = hostToken({ sub: bob, sv: 0, username: 'bob' });

      const boom = await call('GET', '/boom', { token });
      expect({ status: boom.status, body: boom.body }).toEqual({
        status: 500,
        body: {
          host: true,
          statusCode: 500,
          error: 'HostError',
          message: 'the flux capacitor is out of sync',
          path: '/boom',
        },
      });
      const anonymous = await call('GET', '/profile');
      expect({ status: anonymous.status, body: anonymous.body }).toEqual({
        status: 401,
        body: {
          host: true,
          statusCode: 401,
          error: 'Unauthorized',
          message: 'Unauthorized',
          path: '/profile',
        },
      });
      const missing = await call('GET', '/nowhere', { token });
      expect({ status: missing.status, body: missing.body }).toEqual({
        status: 404,
        body: expect.objectContaining({
          host: true,
          statusCode: 404,
          error: 'Not Found',
          path: '/nowhere',
        }),
      });
      const invalid = await call('POST', '/auth/register', { body: { username: 'x' } });
      expect({ status: invalid.status, body: invalid.body }).toEqual({
        status: 400,
        body: expect.objectContaining({ host: true, statusCode: 400, path: '/auth/register' }),
      });

      await query(db!.url, `UPDATE users SET role = 'admin' WHERE id = $1`, [bob]);
      const admin = await call('GET', '/admin', { token });
      expect({ status: admin.status, body: admin.body }).toEqual({
        status: 200,
        body: { area: 'admin', secret: 42 },
      });
      expect(await counter(bob)).toEqual({
        count: 0,
        blocker: 0,
        status: 'active',
        session_version: 0,
      });
    });

    it("throttles the host's logins in its own handler: 5 wrong passwords, then 429 with Retry-After, for real and unknown names alike", async () => {
      await call('POST', '/auth/register', { body: { username: 'dora', password: PASSWORD } });
      for (const name of ['dora', 'nobody-here']) {
        const answers: number[] = [];
        let retryAfter: string | null = null;
        for (let i = 0; i < 7; i++) {
          const res = await call('POST', '/auth/login', {
            body: { username: name, password: 'wrong-password-' + i },
          });
          answers.push(res.status);
          if (res.status === 429) retryAfter = res.headers.get('retry-after');
        }
        expect({ name, answers }).toEqual({ name, answers: [401, 401, 401, 401, 401, 429, 429] });
        expect(retryAfter).toMatch(/^[1-9]\d*$/);
      }
      // The right password during the wait is not even checked.
      expect((await login('dora')).status).toBe(429);
    });

    it('mounts the admin REST module from strikeguard/rest: the host admin unblocks, a user may not', async () => {
      if (!alice) throw new Error('no user: registration failed above');
      const carol = (
        await call('POST', '/auth/register', { body: { username: 'carol', password: PASSWORD } })
      ).body.id as number;
      const carolToken = (await login('carol')).body.access_token;
      const refused = await call('POST', `/admin/strikes/${alice.id}/unblock`, {
        token: carolToken,
        body: { reason: 'let me in' },
      });
      expect({ status: refused.status, host: refused.body.host }).toEqual({
        status: 403,
        host: true,
      });
      expect(await counter(carol)).toMatchObject({ blocker: 1 }); // the refusal is a violation
      expect(await counter(alice.id)).toMatchObject({ status: 'blocked' });

      const bob = hostToken({
        sub: (
          await query<{ id: number }>(db!.url, `SELECT id FROM users WHERE username = 'bob'`)
        )[0].id,
        sv: 0,
        username: 'bob',
      });
      const state = await call('GET', `/admin/strikes/${alice.id}`, { token: bob });
      expect(state.body).toMatchObject({
        userId: String(alice.id),
        status: 'blocked',
        blocker: 12,
      });
      const unblocked = await call('POST', `/admin/strikes/${alice.id}/unblock`, {
        token: bob,
        body: { reason: 'reviewed with alice' },
      });
      expect({ status: unblocked.status, body: unblocked.body }).toMatchObject({
        status: 200,
        body: { userId: String(alice.id), status: 'active', count: 0, blocker: 0 },
      });
      expect((await login('alice')).status).toBe(200);
    });
  });

  it(
    "the packaged CLI verifies the host's log directory, and enrolls from the host's integer-id users table",
    async () => {
      if (!host || !db) throw new Error('the host did not run (see above)');
      host.child.kill('SIGTERM');
      if (host.child.exitCode === null && host.child.signalCode === null) {
        await new Promise((resolve) => host!.child.once('close', resolve));
      }
      const bin = path.join(hostDir, 'node_modules', '.bin', 'strikeguard');
      const verify = async (args: string[], env: Record<string, string> = {}) => {
        const res = await run(bin, ['audit', 'verify', ...args], {
          cwd: hostDir,
          env: cleanEnv(env),
        });
        expect({ args, code: res.code, stderr: res.stderr }).toEqual({ args, code: 0, stderr: '' });
        const result = JSON.parse(res.stdout);
        expect(result).toMatchObject({ ok: true });
        return result;
      };
      const fromFiles = await verify(['--log-dir', logDir]);
      const records = (
        await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM audit_events')
      )[0].n;
      expect(records).toBeGreaterThan(0);
      expect(fromFiles.checked).toBe(records);
      await verify(['--log-dir', logDir], { DATABASE_URL: db.url });

      // A user the host created before it enrolled anyone (a legacy row): the default users.id.
      const [legacy] = await query<{ id: number }>(
        db.url,
        `INSERT INTO users (username, password_hash) VALUES ('legacy', 'x') RETURNING id`,
      );
      const enroll = await run(bin, ['strikes', 'enroll-missing'], {
        cwd: hostDir,
        env: cleanEnv({ DATABASE_URL: db.url, AUDIT_LOG_DIR: logDir }),
      });
      expect({ code: enroll.code, stderr: enroll.stderr }).toEqual({ code: 0, stderr: '' });
      expect(JSON.parse(enroll.stdout)).toEqual({ enrolled: 1 });
      expect(
        await query(db.url, 'SELECT 1 FROM strike_counters WHERE user_id = $1', [
          String(legacy.id),
        ]),
      ).toHaveLength(1);
      await verify(['--log-dir', logDir]);
    },
    2 * MINUTE,
  );
});
