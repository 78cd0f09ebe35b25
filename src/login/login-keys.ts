import { createHmac, hkdfSync } from 'node:crypto';

/**
 * The two keys of the throttle, derived from its one secret (HKDF-SHA256, distinct labels), so
 * an account key never doubles as a device-token signature.
 */
export class LoginKeys {
  private readonly accountKey: Buffer;
  readonly deviceKey: Buffer;

  constructor(
    secret: Buffer,
    private readonly normalize: (name: string) => string,
  ) {
    this.accountKey = derive(secret, 'strikeguard login-throttle account v1');
    this.deviceKey = derive(secret, 'strikeguard login-throttle device v1');
  }

  /**
   * The 32-byte key of the account a login name names: HMAC-SHA256 of its normalised form. Every
   * name has one, whether an account exists or not; the table never holds the name.
   */
  account(name: string): Buffer {
    return createHmac('sha256', this.accountKey).update(this.normalize(name), 'utf8').digest();
  }
}

function derive(secret: Buffer, label: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'strikeguard', label, 32));
}

/** The short form of an account key that events carry (12 hex digits: correlates, never reverses). */
export function accountTag(account: Buffer): string {
  return account.subarray(0, 6).toString('hex');
}
