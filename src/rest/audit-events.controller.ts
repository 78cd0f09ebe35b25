import {
  Body,
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
  UseGuards,
} from '@nestjs/common';
import { type Request } from 'express';
import {
  ApiBearerAuth,
  ApiBody,
  ApiOperation,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from './openapi.decorators.js';
import { ApiErrors } from './openapi.errors.js';
import {
  auditRecordSchema,
  jsonSchemaDocumentSchema,
  pageSchema,
  submissionSchema,
  submittedIdsSchema,
} from './openapi.schemas.js';
import { AuditQueryInvalidError, parseAuditQuery } from '../audit/audit-query.js';
import { auditEventSchema } from '../audit/audit-event.schema.js';
import { validateSubmission } from '../audit/audit-event-validator.js';
import { AuditService } from '../audit/audit.service.js';
import { RequirePermission } from './rest-access.js';
import { RestAccessGuard } from './rest-access.guard.js';
import { ValidationFailedException } from '../common/schema-validation.pipe.js';
import { OverloadedError } from '../common/overloaded.error.js';
import { OverloadedException, sendRetryAfter } from '../common/overloaded.exception.js';
import { parseId, parseCount } from './audit-api.params.js';
import { submittedJsonErrors } from './submitted-json.js';

@ApiTags('audit')
@Controller('audit')
@UseGuards(RestAccessGuard)
@ApiBearerAuth()
@ApiErrors(401, 403, 503)
export class AuditEventsController {
  constructor(private readonly audit: AuditService) {}

  @Post('events')
  @RequirePermission('audit:write')
  @HttpCode(201)
  @ApiOperation({ summary: 'Submit one event or an array of up to 1,000 (all or nothing)' })
  @ApiBody({ schema: submissionSchema })
  @ApiResponse({
    status: 201,
    description: '`{ids}` in submission order, once committed and in the log file',
    schema: submittedIdsSchema,
  })
  @ApiErrors(
    {
      400: 'every invalid field listed in `errors` (repeated member names included); nothing written',
    },
    { 413: 'body over the limit (2 MiB in the reference service); nothing written' },
    { 415: 'not JSON, or JSON in a charset other than UTF-8; nothing written' },
    {
      503:
        '`reason: "overloaded"` (too many events waiting to be written: try again after ' +
        '`Retry-After` seconds), or the database or the audit log is unavailable; nothing written',
    },
  )
  async submit(@Body() body: unknown, @Req() request: Request) {
    if (body === undefined)
      throw new ValidationFailedException([
        { path: '', message: 'request body must be an event or an array of events' },
      ]);
    // What JSON.parse lost (repeated names, bytes not UTF-8), then what the events hold.
    const textErrors = submittedJsonErrors(request);
    const { events, errors } = validateSubmission(body);
    errors.unshift(...textErrors);
    if (errors.length) throw new ValidationFailedException(errors);
    let records;
    try {
      records = await this.audit.recordMany(events);
    } catch (error) {
      // Refused before anything was queued: nothing of it was written, the client may resend.
      if (!(error instanceof OverloadedError)) throw error;
      sendRetryAfter((request as Request & { res?: unknown }).res, error.retryAfterSeconds);
      throw OverloadedException.from(
        error,
        'too many audit events are waiting to be written; nothing was written, try again later',
      );
    }
    return { ids: records.map((r) => r.id) };
  }

  @Get('events')
  @RequirePermission('audit:read')
  @ApiOperation({ summary: 'Search, newest first: `{items, nextCursor}`' })
  @ApiQuery({ name: 'type', required: false })
  @ApiQuery({ name: 'userId', required: false })
  @ApiQuery({ name: 'actorId', required: false })
  @ApiQuery({ name: 'from', required: false, description: 'ISO-8601 or YYYY-MM-DD' })
  @ApiQuery({ name: 'to', required: false, description: 'ISO-8601 or YYYY-MM-DD (the whole day)' })
  @ApiQuery({ name: 'limit', required: false, description: '1-1000, default 100' })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiQuery({
    name: 'details.<key>',
    required: false,
    description: '`details.a.b=7` matches JSON 7, `details.k=x` the string',
  })
  @ApiResponse({ status: 200, description: 'newest first', schema: pageSchema(auditRecordSchema) })
  @ApiErrors({ 400: 'an unknown or invalid parameter, each listed in `errors`' })
  search(@Query() params: Record<string, unknown>) {
    try {
      return this.audit.find(parseAuditQuery(params));
    } catch (error) {
      if (error instanceof AuditQueryInvalidError)
        throw new ValidationFailedException(error.errors);
      throw error;
    }
  }

  @Get('events/recent')
  @RequirePermission('audit:read')
  @ApiOperation({ summary: 'The last N records (count 1-1000, default 100)' })
  @ApiQuery({ name: 'count', required: false, description: '1-1000, default 100' })
  @ApiResponse({
    status: 200,
    description: 'newest first; `nextCursor` is always null',
    schema: pageSchema(auditRecordSchema),
  })
  @ApiErrors({ 400: 'an unknown or invalid parameter, each listed in `errors`' })
  async recent(@Query() params: Record<string, unknown>) {
    const { items } = await this.audit.find({ limit: parseCount(params) });
    return { items, nextCursor: null };
  }

  @Get('events/:id')
  @RequirePermission('audit:read')
  @ApiOperation({ summary: 'One record' })
  @ApiResponse({ status: 200, description: 'the record', schema: auditRecordSchema })
  @ApiErrors({ 400: 'the id is not a positive integer' }, { 404: 'no record with this id' })
  async one(@Param('id') id: string) {
    const record = await this.audit.findById(parseId(id, 'id'));
    if (!record) throw new NotFoundException(`no audit record ${id}`);
    return record;
  }

  @Get('schema')
  @RequirePermission('audit:read')
  @ApiOperation({ summary: 'JSON Schema of a submitted event' })
  @ApiResponse({ status: 200, description: 'the schema', schema: jsonSchemaDocumentSchema })
  schema() {
    return auditEventSchema;
  }
}
