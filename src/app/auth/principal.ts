/** Who is calling, as established by the JWT guard and attached to `request.user`. */
export interface UserPrincipal {
  kind: 'user';
  /** The user id (`sub` of the token). */
  id: string;
  /** Token issue time, seconds since the epoch. */
  issuedAt: number;
}

export type Principal = UserPrincipal;
