import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../rest/index.js';
import { healthSchema } from '../openapi/response-schemas.js';
import { InjectDataSource } from '@nestjs/typeorm';
import { type DataSource } from 'typeorm';
import { AuditService } from '../../index.js';

const PROBE_TIMEOUT_MS = 2000;

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  @Get()
  @ApiOperation({
    summary: '200 when the database answers and the audit log file is writable, 503 otherwise',
  })
  @ApiResponse({ status: 200, description: 'everything is writable', schema: healthSchema })
  @ApiErrors({
    503: '`reason: "database_unavailable"` or `"audit_log_unavailable"`; `message` names what is down',
  })
  async health() {
    const checks = {
      database: (await this.probeDatabase()) ? 'ok' : 'unavailable',
      auditLog: this.audit.logWritable() ? 'ok' : 'unavailable',
    };
    const down = Object.keys(checks).filter((k) => checks[k as keyof typeof checks] !== 'ok');
    if (down.length > 0) {
      throw new ServiceUnavailableException({
        message: `unavailable: ${down.join(', ')}`,
        reason: down.includes('database') ? 'database_unavailable' : 'audit_log_unavailable',
      });
    }
    return { status: 'ok', checks };
  }

  private async probeDatabase(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
    });
    const probe = this.dataSource.query('SELECT 1').then(
      () => true,
      () => false,
    );
    try {
      return await Promise.race([probe, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
