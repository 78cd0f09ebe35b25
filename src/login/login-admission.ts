import { type UserId } from '../strikes/user-id.js';

/** What a successful login settles to. */
export interface LoginSuccess {
  /**
   * The device token of the client: give it back to it (the JSON field `deviceToken`); when the
   * attempt came with a request, the `sg_device` cookie is set on its response as well. null when
   * the throttle is switched off.
   */
  deviceToken: string | null;
}

/**
 * An admitted login attempt: check the password, then settle it exactly once — `failed` or
 * `succeeded`. It was charged as a failure when it was admitted, so an attempt that is never
 * settled (the process died, the user lookup threw) stays counted: it fails closed.
 */
export interface LoginAdmission {
  /** Whether it came with a valid device token for this account (its own lane). */
  readonly trusted: boolean;
  /**
   * The password was wrong, the account does not exist or may not log in. Pass the account's
   * user id when there is one (events are keyed by it), null otherwise; `reason` goes into the
   * `auth.login_failed` event (for example `unknown_user`, `wrong_password`).
   */
  failed(userId: UserId | null, reason?: string): Promise<void>;
  /** The password was right and the account may log in. */
  succeeded(userId: UserId): Promise<LoginSuccess>;
}
