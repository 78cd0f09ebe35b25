import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import { type Request, type Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { HostError } from './host-error.js';

/** The host's own catch-all filter: every error in the host's house style. */
@Catch()
export class HostExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HostExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    let statusCode: number = HttpStatus.INTERNAL_SERVER_ERROR;
    let error = 'Internal Server Error';
    let message: unknown = 'Internal server error';
    if (exception instanceof HttpException) {
      statusCode = exception.getStatus();
      const body = exception.getResponse();
      const fields =
        typeof body === 'string' ? { message: body } : (body as Record<string, unknown>);
      message = fields.message ?? exception.message;
      error =
        typeof fields.error === 'string'
          ? fields.error
          : (STATUS_CODES[statusCode] ?? exception.name);
    } else if (exception instanceof HostError) {
      error = exception.name;
      message = exception.message;
    } else {
      this.logger.error(exception);
    }
    response.status(statusCode).json({ host: true, statusCode, error, message, path: request.url });
  }
}
