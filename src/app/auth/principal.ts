/** A logged-in user, as established by the JWT guard and attached to `request.user`. */
export interface UserPrincipal {
  kind: 'user';
  /** The user id (`sub` of the token). */
  id: string;
  /** Token issue time, seconds since the epoch. */
  issuedAt: number;
  /** The user's session version when the token was issued (claim `sv`). */
  sessionVersion: number;
}

/** Another system calling with a service token: never a user, never charged a strike. */
export interface ServicePrincipal {
  kind: 'service';
  /** The service token's id. */
  id: string;
  /** The token's subject (`svc:<id>`): the actorId of what it submits. */
  actorId: string;
  scopes: string[];
  issuedAt: number;
}

export type Principal = UserPrincipal | ServicePrincipal;

export const SERVICE_SCOPES = ['audit:write', 'audit:read'] as const;
export type ServiceScope = (typeof SERVICE_SCOPES)[number];

/** The JWT `typ` claim of a service token: tells it apart from a user's session token. */
export const SERVICE_TOKEN_TYPE = 'service';
