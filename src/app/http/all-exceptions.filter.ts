import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import { type Response } from 'express';
import { STATUS_CODES } from 'node:http';
import {
  AuditEventInvalidError,
  AuditLogUnavailableError,
  isDatabaseUnavailable,
  OverloadedError,
  OverloadedException,
} from '../../index.js';

/** The error body of every response: `{statusCode, error, message}` plus `reason` / `errors`. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  reason?: string;
  errors?: { path: string; message: string }[];
}

/**
 * Renders every error in one shape. Anything unexpected is logged and answered 500 without
 * details; a database that cannot be reached is 503, so the service fails closed and says so.
 * Charging violations is not its business: StrikesModule makes every filter charge first.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const body = this.toBody(exception);
    if (response.headersSent) return;
    const retryAfter =
      exception instanceof OverloadedError || exception instanceof OverloadedException
        ? exception.retryAfterSeconds
        : undefined;
    if (retryAfter !== undefined) response.setHeader('Retry-After', String(retryAfter));
    response.status(body.statusCode).json(body);
  }

  toBody(exception: unknown): ErrorBody {
    if (exception instanceof HttpException) return fromHttpException(exception);
    if (exception instanceof AuditEventInvalidError) {
      return {
        ...errorBody(HttpStatus.BAD_REQUEST, 'invalid audit event'),
        errors: exception.errors,
      };
    }
    if (exception instanceof OverloadedError) {
      return {
        ...errorBody(HttpStatus.SERVICE_UNAVAILABLE, exception.message),
        reason: 'overloaded',
      };
    }
    if (exception instanceof AuditLogUnavailableError) {
      this.logger.error(exception.message);
      return {
        ...errorBody(HttpStatus.SERVICE_UNAVAILABLE, 'audit log unavailable, try again later'),
        reason: 'audit_log_unavailable',
      };
    }
    if (isDatabaseUnavailable(exception)) {
      this.logger.warn(`database unavailable: ${(exception as Error).message}`);
      return errorBody(HttpStatus.SERVICE_UNAVAILABLE, 'database unavailable, try again later');
    }
    this.logger.error(exception instanceof Error ? exception.stack : String(exception));
    return errorBody(HttpStatus.INTERNAL_SERVER_ERROR, 'internal server error');
  }
}

export function errorBody(statusCode: number, message: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

function fromHttpException(exception: HttpException): ErrorBody {
  const statusCode = exception.getStatus();
  const raw = exception.getResponse();
  if (typeof raw === 'string') return errorBody(statusCode, raw);
  const res = raw as { message?: unknown; reason?: unknown; errors?: ErrorBody['errors'] };
  const message = Array.isArray(res.message)
    ? res.message.join('; ')
    : typeof res.message === 'string'
      ? res.message
      : exception.message;
  const body = errorBody(statusCode, message);
  if (typeof res.reason === 'string') body.reason = res.reason;
  if (Array.isArray(res.errors)) body.errors = res.errors;
  return body;
}
