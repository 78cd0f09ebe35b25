import {
  Controller,
  Get,
  HttpException,
  HttpStatus,
  NotFoundException,
  Param,
  Query,
  Res,
  UseGuards,
} from '@nestjs/common';
import { type Response } from 'express';
import {
  ApiBearerAuth,
  ApiOperation,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from './openapi.decorators.js';
import { ApiErrors } from './openapi.errors.js';
import { verifyResultSchema } from './openapi.schemas.js';
import { AuditService } from '../audit/audit.service.js';
import { AuditVerificationBusyError } from '../audit/audit-verify.gate.js';
import { type VerifyResult } from '../audit/audit-verifier.js';
import { RequirePermission } from './rest-access.js';
import { RestAccessGuard } from './rest-access.guard.js';
import { parseId, parseRange } from './audit-api.params.js';

@ApiTags('audit')
@Controller('audit/verify')
@UseGuards(RestAccessGuard)
@ApiBearerAuth()
@RequirePermission('audit:read')
@ApiErrors(401, 403, 503)
export class AuditVerifyController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @ApiOperation({
    summary:
      'Verify the chain (or fromId..toId) and the log file: `{ok, checked, firstInvalidId?, reason?}`. ' +
      'The whole chain, or more than 1,000 records, one at a time per instance: 429 with Retry-After meanwhile',
  })
  @ApiQuery({ name: 'fromId', required: false, description: 'first id to check' })
  @ApiQuery({ name: 'toId', required: false, description: 'last id to check' })
  @ApiResponse({ status: 200, description: 'the verdict', schema: verifyResultSchema })
  @ApiErrors(
    { 400: 'fromId or toId is not a positive integer id, or fromId > toId' },
    {
      429:
        '`reason: "verification_in_progress"`: another long verification is running on this ' +
        'instance; try again after `Retry-After` seconds',
    },
  )
  verify(
    @Query() params: Record<string, unknown>,
    @Res({ passthrough: true }) response: Response,
  ): Promise<VerifyResult> {
    return busyAs429(this.audit.verify(parseRange(params)), response);
  }

  @Get(':id')
  @ApiOperation({
    summary: 'Verify one record: its hash, its link to the previous record, its log line',
  })
  @ApiResponse({ status: 200, description: 'the verdict', schema: verifyResultSchema })
  @ApiErrors({ 400: 'the id is not a positive integer' }, { 404: 'no record with this id' })
  async verifyOne(@Param('id') id: string) {
    const n = parseId(id, 'id');
    if (!(await this.audit.findById(n))) throw new NotFoundException(`no audit record ${n}`);
    return this.audit.verify({ fromId: n, toId: n });
  }
}

/** A heavy verification already running: 429 with `Retry-After` (seconds) and `reason`. */
async function busyAs429(result: Promise<VerifyResult>, response: Response): Promise<VerifyResult> {
  try {
    return await result;
  } catch (error) {
    if (!(error instanceof AuditVerificationBusyError)) throw error;
    response.setHeader('Retry-After', String(error.retryAfterSeconds));
    throw new HttpException(
      {
        statusCode: HttpStatus.TOO_MANY_REQUESTS,
        error: 'Too Many Requests',
        message: error.message,
        reason: 'verification_in_progress',
      },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}
