import { Controller, Get, NotFoundException, Param, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuditService } from '../../audit/audit.service.js';
import { Protected } from '../auth/protected.decorator.js';
import { Roles, Scopes } from '../auth/roles.decorator.js';
import { parseId, parseRange } from './audit-params.js';

@ApiTags('audit')
@Controller('audit/verify')
@Protected()
@Roles('admin', 'auditor')
@Scopes('audit:read')
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
