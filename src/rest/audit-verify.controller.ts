import { Controller, Get, NotFoundException, Param, Query, UseGuards } from '@nestjs/common';
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
      'Verify the chain (or fromId..toId) and the log file: `{ok, checked, firstInvalidId?, reason?}`',
  })
  @ApiQuery({ name: 'fromId', required: false, description: 'first id to check' })
  @ApiQuery({ name: 'toId', required: false, description: 'last id to check' })
  @ApiResponse({ status: 200, description: 'the verdict', schema: verifyResultSchema })
  @ApiErrors({ 400: 'fromId or toId is not a positive integer id, or fromId > toId' })
  verify(@Query() params: Record<string, unknown>) {
    return this.audit.verify(parseRange(params));
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
