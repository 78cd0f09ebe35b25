import { AsyncLocalStorage } from 'node:async_hooks';
import { type NextFunction, type Request, type Response } from 'express';

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

/**
 * The current request's actor, IP, method and path, or undefined outside a request. Read at record
 * time, so the actor is whoever the guards authenticated. The IP honours X-Forwarded-For only when
 * Express's `trust proxy` is on; the path never includes the query string (it may hold secrets).
 */
export function currentRequestContext(actorOf: ActorResolver): RequestContext | undefined {
  const request = storage.getStore();
  if (!request) return undefined;
  return {
    actorId: actorOf(request),
    ip: request.ip ?? request.socket?.remoteAddress ?? null,
    method: request.method ?? null,
    path: (request.originalUrl ?? request.url ?? '').split('?')[0].slice(0, 256) || null,
  };
}
