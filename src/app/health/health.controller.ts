import { Controller, Get, Optional, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../rest/index.js';
import { healthSchema } from '../openapi/response-schemas.js';
import { InjectDataSource } from '@nestjs/typeorm';
import { type DataSource } from 'typeorm';
import { AlertsService, AuditService } from '../../index.js';

const PROBE_TIMEOUT_MS = 2000;

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    // Present when ALERT_WEBHOOK_URL is set.
    @Optional() private readonly alerts?: AlertsService,
  ) {}

  @Get()
  @ApiOperation({
    summary:
      '200 when the database answers and the audit log file is writable, 503 otherwise. With an ' +
      'alert webhook, `checks.alerts` and `alerts` report its delivery: a failing or lagging ' +
      'receiver makes the status `degraded` (still 200: requests are served, alerts wait)',
  })
  @ApiResponse({
    status: 200,
    description: 'everything is writable (alerts may be degraded)',
    schema: healthSchema,
  })
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
    if (!this.alerts) return { status: 'ok', checks };
    // From memory (the dispatcher's last round): a slow receiver never slows this route.
    const alerts = this.alerts.status();
    return {
      status: alerts.healthy ? 'ok' : 'degraded',
      checks: { ...checks, alerts: alerts.healthy ? 'ok' : 'degraded' },
      alerts,
    };
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
