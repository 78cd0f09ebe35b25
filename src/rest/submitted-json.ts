import {
  HttpStatus,
  Logger,
  ServiceUnavailableException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { type Request } from 'express';
import { jsonTextErrors } from '../audit/json-text.js';
import { type FieldError } from '../common/field-errors.js';

/**
 * 503 for a submission whose JSON text the host's body parser did not keep: without it repeated
 * member names (which JSON.parse drops in silence) cannot be detected, and accepting the body
 * would record something other than what was sent. The message names the fix.
 */
export class RawBodyUnavailableException extends ServiceUnavailableException {
  readonly reason = 'raw_body_unavailable';

  constructor() {
    super({
      statusCode: HttpStatus.SERVICE_UNAVAILABLE,
      error: 'Service Unavailable',
      message:
        'strikeguard cannot check this submission: the JSON body parser kept no raw body, so ' +
        'repeated member names cannot be detected and the events are refused. Fix: create the ' +
        'app with NestFactory.create(AppModule, { rawBody: true }), or have your JSON parser ' +
        'set request.rawBody to the Buffer it parsed',
      reason: 'raw_body_unavailable',
    });
    this.name = this.constructor.name;
  }
}

const logger = new Logger('AuditApi');
let told = false;

/**
 * The problems of a submission's JSON text that the parsed body no longer shows (text not in
 * UTF-8, repeated member names), read from `request.rawBody` — where Nest's own parser puts the
 * body with `rawBody: true`, and the reference service's parser always does. The check sits here,
 * in the library's route, so that the audit API is safe in any host, whatever parses its bodies.
 */
export function submittedJsonErrors(request: Request & { rawBody?: unknown }): FieldError[] {
  const raw = request.rawBody;
  if (!Buffer.isBuffer(raw)) {
    const refusal = new RawBodyUnavailableException();
    if (!told) logger.error(refusal.message);
    told = true;
    throw refusal;
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(request.headers['content-type'] ?? '');
  if (charset && !/^utf-?8$/i.test(charset[1])) {
    throw new UnsupportedMediaTypeException(
      `audit events must be JSON in UTF-8 (I-JSON, RFC 7493), not charset ${charset[1] || '""'}`,
    );
  }
  return jsonTextErrors(raw);
}
