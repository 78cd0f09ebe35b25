import express from 'express';
import http from 'node:http';
import { type AddressInfo } from 'node:net';
import { loadConfig } from '../../src/app/config/app-config.js';
import { parseTrustProxy } from '../../src/app/config/trust-proxy.js';

const parse = (raw: string | undefined) => {
  const problems: string[] = [];
  const value = parseTrustProxy(raw, problems);
  return { value, problems };
};

/** The `req.ip` Express answers with `trust proxy` set to `setting`, for a loopback client. */
async function ipSeenBy(setting: unknown, forwardedFor: string): Promise<string | undefined> {
  const app = express();
  app.set('trust proxy', setting);
  app.get('/', (req, res) => {
    res.json({ ip: req.ip ?? null });
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/`, {
      headers: { 'x-forwarded-for': forwardedFor },
    });
    return ((await res.json()) as { ip?: string }).ip;
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('TRUST_PROXY', () => {
  it.each([undefined, '', 'false', 'FALSE', 'no', '0'])('"%s" trusts no proxy', (raw) => {
    expect(parse(raw)).toEqual({ value: false, problems: [] });
  });

  it.each([
    ['1', 1],
    ['2', 2],
    ['10', 10],
  ])('"%s" is a hop count', (raw, hops) => {
    expect(parse(raw)).toEqual({ value: hops, problems: [] });
  });

  it.each([
    ['loopback', ['loopback']],
    ['LoopBack', ['loopback']],
    ['linklocal, uniquelocal', ['linklocal', 'uniquelocal']],
    ['10.0.0.1', ['10.0.0.1']],
    ['10.0.0.0/8,192.168.1.0/24', ['10.0.0.0/8', '192.168.1.0/24']],
    ['loopback, 2001:db8::/32, ::1', ['loopback', '2001:db8::/32', '::1']],
  ])('"%s" is a list of proxies', (raw, list) => {
    expect(parse(raw)).toEqual({ value: list, problems: [] });
  });

  it.each(['true', 'TRUE', 'yes', 'all', '*'])(
    '"%s" (every hop) is refused, naming the alternatives',
    (raw) => {
      const { value, problems } = parse(raw);
      expect(value).toBe(false);
      expect(problems).toEqual([
        expect.stringMatching(
          new RegExp(
            `^TRUST_PROXY=${raw.replace('*', '\\*')} would trust every hop, so any client could choose the address recorded for it with X-Forwarded-For; name the proxies instead: a hop count from 1 to 10 .*loopback, linklocal, uniquelocal, IP addresses and CIDRs`,
          ),
        ),
      ]);
    },
  );

  it.each([
    ['11', /must be a hop count from 1 to 10.*\(got "11"\)/],
    ['1000', /\(got "1000"\)/],
    ['maybe', /not understood: "maybe"/],
    ['0.0.0.0/0', /not understood: "0.0.0.0\/0"/],
    ['::/0', /not understood: "::\/0"/],
    ['10.0.0.0/33', /not understood: "10.0.0.0\/33"/],
    ['10.0.0.0/8/8', /not understood: "10.0.0.0\/8\/8"/],
    ['10.0.0.0/x', /not understood: "10.0.0.0\/x"/],
    ['10.0.0.256', /not understood: "10.0.0.256"/],
    ['fe80::1%eth0', /not understood: "fe80::1%eth0"/],
    ['loopback,', /not understood: ""/],
    ['1, loopback', /not understood: "1"/],
  ])('"%s" is refused', (raw, pattern) => {
    const { value, problems } = parse(raw);
    expect(value).toBe(false);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(pattern);
  });

  it('is read by loadConfig, whose error lists it with the other problems', () => {
    expect(loadConfig({ TRUST_PROXY: '1' }).config.trustProxy).toBe(1);
    expect(() => loadConfig({ TRUST_PROXY: 'true', PORT: 'x' })).toThrow(
      /PORT must be .*\n.*TRUST_PROXY=true would trust every hop/,
    );
  });

  // What the parsed values mean to Express: the hop just before the trusted ones, never a
  // client's own leftmost entry.
  it.each([
    ['1', '6.6.6.6, 203.0.113.9', '203.0.113.9'],
    ['loopback', '6.6.6.6, 203.0.113.9', '203.0.113.9'],
    ['loopback, 203.0.113.9', '6.6.6.6, 198.51.100.4, 203.0.113.9', '198.51.100.4'],
    ['2', '6.6.6.6, 198.51.100.4, 203.0.113.9', '198.51.100.4'],
    ['false', '6.6.6.6, 203.0.113.9', '127.0.0.1'],
    ['10.0.0.0/8', '6.6.6.6, 203.0.113.9', '127.0.0.1'],
  ])('with "%s", X-Forwarded-For "%s" gives %s', async (raw, xff, ip) => {
    const { value } = parse(raw);
    expect(await ipSeenBy(value, xff)).toBe(ip);
  });
});
