import { Controller, Get, NotFoundException, Param, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from './openapi.decorators.js';
import { AuditService } from '../audit/audit.service.js';
import { RequirePermission } from './rest-access.js';
import { RestAccessGuard } from './rest-access.guard.js';
import { parseId, parseRange } from './audit-api.params.js';

@ApiTags('audit')
@Controller('audit/verify')
@UseGuards(RestAccessGuard)
@ApiBearerAuth()
@RequirePermission('audit:read')
export class AuditVerifyController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @ApiOperation({
    summary:
      'Verify the chain (or fromId..toId) and the log file: `{ok, checked, firstInvalidId?, reason?}`',
  })
  verify(@Query() params: Record<string, unknown>) {
    return this.audit.verify(parseRange(params));
  }

  @Get(':id')
  @ApiOperation({
    summary: 'Verify one record: its hash, its link to the previous record, its log line',
  })
  async verifyOne(@Param('id') id: string) {
    const n = parseId(id, 'id');
    if (!(await this.audit.findById(n))) throw new NotFoundException(`no audit record ${n}`);
    return this.audit.verify({ fromId: n, toId: n });
  }
}
