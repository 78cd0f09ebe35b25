import { randomBytes } from 'node:crypto';
import { Webhook, WebhookVerificationError as ReferenceVerificationError } from 'standardwebhooks';
import {
  parseWebhookSecret,
  signWebhook,
  verifyWebhook,
  WebhookSecretError,
  WebhookVerificationError,
  webhookSignature,
} from '../../src/alerts/standard-webhooks.js';

// The reference library's published vector (standard-webhooks, libraries/javascript, "sign
// function works").
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

const secret = () => `whsec_${randomBytes(32).toString('base64')}`;
const now = () => Math.floor(Date.now() / 1000);
const body = JSON.stringify({ type: 'account.blocked', timestamp: '2026-12-01T00:00:00.000Z' });

describe('Standard Webhooks signatures', () => {
  it("reproduces the reference library's published signature", () => {
    expect(webhookSignature(parseWebhookSecret(VECTOR.secret), VECTOR)).toBe(VECTOR.signature);
    expect(signWebhook(VECTOR.secret, VECTOR)).toEqual({
      'webhook-id': VECTOR.id,
      'webhook-timestamp': String(VECTOR.timestamp),
      'webhook-signature': VECTOR.signature,
    });
  });

  it('verifies the published vector at its own time, and refuses it now (too old)', () => {
    const headers = signWebhook(VECTOR.secret, VECTOR);
    expect(
      verifyWebhook(VECTOR.secret, headers, VECTOR.body, { now: VECTOR.timestamp * 1000 }),
    ).toEqual({ id: VECTOR.id, timestamp: VECTOR.timestamp });
    expect(() => verifyWebhook(VECTOR.secret, headers, VECTOR.body)).toThrow(/too old/);
  });

  it('signs what the standardwebhooks package verifies, and verifies what it signs', () => {
    const key = secret();
    const message = { id: 'sg_42_0123456789abcdef', timestamp: now(), body };
    const headers = signWebhook(key, message);
    expect(new Webhook(key).verify(body, headers)).toEqual(JSON.parse(body));

    const theirs = new Webhook(key).sign(message.id, new Date(message.timestamp * 1000), body);
    expect(theirs).toBe(headers['webhook-signature']);
    expect(
      verifyWebhook(key, { ...headers, 'webhook-signature': theirs }, Buffer.from(body)),
    ).toEqual({ id: message.id, timestamp: message.timestamp });
  });

  it('refuses a tampered body, a wrong secret, a changed id or timestamp', () => {
    const key = secret();
    const headers = signWebhook(key, { id: 'sg_7_aa', timestamp: now(), body });
    const refused = (h: Record<string, string>, b: string, k = key) =>
      expect(() => verifyWebhook(k, h, b)).toThrow(WebhookVerificationError);
    refused(headers, body.replace('blocked', 'unblocked'));
    refused(headers, `${body} `);
    refused(headers, body, secret());
    refused({ ...headers, 'webhook-id': 'sg_8_aa' }, body);
    refused({ ...headers, 'webhook-timestamp': String(now() - 1) }, body);
    // The reference library agrees on each.
    expect(() => new Webhook(key).verify(`${body} `, headers)).toThrow(ReferenceVerificationError);
    expect(() => new Webhook(secret()).verify(body, headers)).toThrow(ReferenceVerificationError);
  });

  it('refuses a timestamp outside the tolerance, either way, and honours a custom tolerance', () => {
    const key = secret();
    for (const offset of [-301, 301]) {
      const headers = signWebhook(key, { id: 'sg_1_ab', timestamp: now() + offset, body });
      expect(() => verifyWebhook(key, headers, body)).toThrow(/too old|in the future/);
      expect(() => new Webhook(key).verify(body, headers)).toThrow(ReferenceVerificationError);
      expect(verifyWebhook(key, headers, body, { toleranceSeconds: 400 }).id).toBe('sg_1_ab');
    }
    const fresh = signWebhook(key, { id: 'sg_1_ab', timestamp: now() - 299, body });
    expect(verifyWebhook(key, fresh, body).id).toBe('sg_1_ab');
  });

  it('refuses missing headers and a timestamp that is not Unix seconds', () => {
    const key = secret();
    const headers = signWebhook(key, { id: 'sg_1_ab', timestamp: now(), body });
    for (const name of Object.keys(headers)) {
      const { [name as keyof typeof headers]: _gone, ...rest } = headers;
      expect(() => verifyWebhook(key, rest, body)).toThrow(/missing/);
    }
    for (const bad of ['hello', '1.5', '-5', ''])
      expect(() => verifyWebhook(key, { ...headers, 'webhook-timestamp': bad }, body)).toThrow(
        WebhookVerificationError,
      );
  });

  it('signs with every secret during a rotation; a receiver with either one verifies', () => {
    const [current, retiring] = [secret(), secret()];
    const headers = signWebhook([current, retiring], { id: 'sg_3_cd', timestamp: now(), body });
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(verifyWebhook(current, headers, body).id).toBe('sg_3_cd');
    expect(verifyWebhook(retiring, headers, body).id).toBe('sg_3_cd');
    expect(new Webhook(retiring).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => verifyWebhook(secret(), headers, body)).toThrow(/no matching signature/);
  });

  it('skips signatures of other schemes and garbage, and finds the valid one among them', () => {
    const key = secret();
    const headers = signWebhook(key, { id: 'sg_5_ef', timestamp: now(), body });
    const mixed = [
      'v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==',
      'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=',
      'v1,short',
      headers['webhook-signature'],
    ].join(' ');
    expect(verifyWebhook(key, { ...headers, 'webhook-signature': mixed }, body).id).toBe('sg_5_ef');
    const truncated = headers['webhook-signature'].slice(0, 10);
    expect(() => verifyWebhook(key, { ...headers, 'webhook-signature': truncated }, body)).toThrow(
      /no matching signature/,
    );
  });

  it('reads fetch Headers and Node header objects alike, case-insensitively', () => {
    const key = secret();
    const signed = signWebhook(key, { id: 'sg_9_aa', timestamp: now(), body });
    expect(verifyWebhook(key, new Headers(signed), body).id).toBe('sg_9_aa');
    const upper = Object.fromEntries(Object.entries(signed).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifyWebhook(key, upper, body).id).toBe('sg_9_aa');
  });

  it.each([
    [undefined, /no secret given/],
    ['', /no secret given/],
    ['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', /does not start with "whsec_"/],
    ['whsec_not base64!', /not base64/],
    [`whsec_${Buffer.alloc(23).toString('base64')}`, /decodes to 23 bytes/],
    [`whsec_${Buffer.alloc(65).toString('base64')}`, /decodes to 65 bytes/],
  ])('refuses the secret %j with a message that shows the format', (bad, problem) => {
    expect(() => parseWebhookSecret(bad)).toThrow(WebhookSecretError);
    expect(() => parseWebhookSecret(bad)).toThrow(problem);
    expect(() => parseWebhookSecret(bad)).toThrow(/openssl rand -base64 32/);
  });

  it('refuses to sign an id the scheme cannot delimit', () => {
    expect(() => signWebhook(secret(), { id: 'a.b', timestamp: now(), body })).toThrow(
      /webhook id/,
    );
  });
});
