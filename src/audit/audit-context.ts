import { AsyncLocalStorage } from 'node:async_hooks';
import { isIP } from 'node:net';
import { type NextFunction, type Request, type Response } from 'express';
import { storableText } from '../common/storable-text.js';

/** What a record takes from the request it was made in. */
export interface RequestContext {
  actorId: string | null;
  ip: string | null;
  method: string | null;
  path: string | null;
}

/** Finds who is acting in a request (default: `request.user.actorId ?? request.user.id`). */
export type ActorResolver = (request: Request) => string | null;

export const defaultActorOf: ActorResolver = (request) => {
  const user = (request as Request & { user?: { actorId?: unknown; id?: unknown; sub?: unknown } })
    .user;
  const actor = user?.actorId ?? user?.id ?? user?.sub;
  // Integer ids (a host's serial column) are recorded in the same text form as the counters'.
  if (typeof actor === 'number' && Number.isSafeInteger(actor)) return String(actor);
  if (typeof actor === 'bigint') return actor.toString();
  return typeof actor === 'string' ? actor : null;
};

const storage = new AsyncLocalStorage<Request>();

/** Express middleware: makes the request available to AuditService for everything it awaits. */
export function auditContextMiddleware(
  request: Request,
  _response: Response,
  next: NextFunction,
): void {
  storage.run(request, next);
}

/** Longest ip, method, path and actor a record holds. */
export const MAX_CONTEXT_TEXT = 256;

/**
 * The current request's actor, IP, method and path, or undefined outside a request. Read at record
 * time, so the actor is whoever the guards authenticated. The IP honours X-Forwarded-For only as
 * far as Express's `trust proxy` allows; the path never includes the query string (it may hold
 * secrets). Every field is checked here, once, so that nothing a client sends can make a record
 * unrecordable: an ip that is not an IP address is null, text is cleaned and cut to its limit.
 */
export function currentRequestContext(actorOf: ActorResolver): RequestContext | undefined {
  const request = storage.getStore();
  if (!request) return undefined;
  return requestContextOf(request, actorOf);
}

/** The record fields `request` fills, each fit for a record (see currentRequestContext). */
export function requestContextOf(request: Request, actorOf: ActorResolver): RequestContext {
  return {
    actorId: textOrNull(actorOf(request)),
    ip: ipOf(request),
    method: textOrNull(request.method),
    path: textOrNull((request.originalUrl ?? request.url ?? '').split('?')[0]),
  };
}

/**
 * The client's address as the trusted hops report it, when it is an IP address. A forwarded value
 * that is not one (garbage, or a hop that is not an address) is null: the socket's address would
 * name the proxy, not the client.
 */
function ipOf(request: Request): string | null {
  const ip: unknown = request.ip ?? request.socket?.remoteAddress;
  // isIP accepts an IPv6 zone index of any length: the length is checked too.
  return typeof ip === 'string' && ip.length <= MAX_CONTEXT_TEXT && isIP(ip) !== 0 ? ip : null;
}

function textOrNull(value: unknown): string | null {
  return typeof value === 'string' && value ? storableText(value, MAX_CONTEXT_TEXT) : null;
}
