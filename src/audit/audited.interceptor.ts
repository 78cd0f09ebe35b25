import {
  type CallHandler,
  type ExecutionContext,
  HttpException,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Request } from 'express';
import { catchError, concatMap, from, type Observable, throwError } from 'rxjs';
import { type AuditedOptions, AUDITED_KEY } from './audited.decorator.js';
import { AuditService } from './audit.service.js';
import { bodyDetails } from './recordable-body.js';
import { storableText } from '../common/storable-text.js';
import { OverloadedException, sendRetryAfter } from '../common/overloaded.exception.js';

const ACTIONS: Record<string, string> = {
  POST: 'create',
  GET: 'read',
  HEAD: 'read',
  PUT: 'update',
  PATCH: 'update',
  DELETE: 'delete',
};

const RECORDED = Symbol('strikeguard:audited-recorded');

/** Writes the record of an `@Audited()` call; the response waits for it. */
@Injectable()
export class AuditedInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly audit: AuditService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const options =
      this.reflector.getAllAndOverride<AuditedOptions | undefined>(AUDITED_KEY, [
        context.getHandler(),
        context.getClass(),
      ]) ?? {};
    const request = context.switchToHttp().getRequest<Request & { [RECORDED]?: true }>();
    // @Audited on both a controller and its handler applies the interceptor twice: record once.
    if (request[RECORDED]) return next.handle();
    request[RECORDED] = true;
    // The record follows the action: refuse the action now rather than leave it unrecorded later.
    if (this.audit.overloaded) return throwError(() => overloaded(context));
    const entityType =
      options.entityType ??
      context
        .getClass()
        .name.replace(/Controller$/, '')
        .toLowerCase();
    const action = ACTIONS[request.method] ?? 'call';
    // Everything taken from the request is made fit for a record: the handler has run by the time
    // the record is written, so a record the format refused would be a change without its record.
    const write = (outcome: 'success' | 'failure', status: number) => {
      const actor = this.audit.actorOf(request);
      const base = {
        action,
        route: storableText(`${request.method} ${request.route?.path ?? request.path}`, 1024),
        status,
      };
      return this.audit.record(
        {
          type: options.type ?? `${entityType}.${action}`.toLowerCase(),
          userId: actor ? storableText(actor, 128) : 'anonymous',
          outcome,
          entityType,
          targetId: options.targetParam
            ? storableText(String(request.params?.[options.targetParam] ?? ''), 256) || null
            : null,
          details:
            options.includeBody && request.body !== undefined
              ? bodyDetails(request.body, (v) => this.audit.redact(v), base)
              : base,
        },
        // The handler has run: its record is never refused for load (see the up-front check).
        { evenIfOverloaded: true },
      );
    };
    return next.handle().pipe(
      concatMap((result) => {
        const status = context.switchToHttp().getResponse<{ statusCode: number }>().statusCode;
        return from(write('success', status).then(() => result));
      }),
      catchError((error: unknown) => {
        const status = error instanceof HttpException ? error.getStatus() : 500;
        return from(write('failure', status)).pipe(concatMap(() => throwError(() => error)));
      }),
    );
  }
}

function overloaded(context: ExecutionContext): OverloadedException {
  const refusal = new OverloadedException(
    'the audit trail is overloaded, so this audited action was not run; try again later',
  );
  sendRetryAfter(context.switchToHttp().getResponse(), refusal.retryAfterSeconds);
  return refusal;
}
