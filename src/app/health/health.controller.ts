import { Controller, Get, Optional, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../rest/index.js';
import { healthSchema } from '../openapi/response-schemas.js';
import { InjectDataSource } from '@nestjs/typeorm';
import { type DataSource } from 'typeorm';
import { AlertsService, AuditService, TransparencyLogService } from '../../index.js';

const PROBE_TIMEOUT_MS = 2000;

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly transparency: TransparencyLogService,
    // Present when ALERT_WEBHOOK_URL is set.
    @Optional() private readonly alerts?: AlertsService,
  ) {}

  @Get()
  @ApiOperation({
    summary:
      '200 when the database answers and the audit log file is writable, 503 otherwise. ' +
      '`checks.transparencyLog` and `transparencyLog` report the Merkle tree, the latest signed ' +
      'checkpoint and the witnesses: a refused signature (fork guard), a failing pass or a ' +
      'witness that did not cosign makes the status `degraded` (still 200; why is in the ' +
      "service's log). With an alert webhook, `checks.alerts` and `alerts` report its delivery: " +
      'a failing or lagging receiver makes the status `degraded` too',
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
    // Both from memory (their last pass): a slow witness or receiver never slows this route.
    const transparencyLog = this.transparency.health();
    const alerts = this.alerts?.status();
    const healthy = transparencyLog.healthy && (alerts?.healthy ?? true);
    const mark = (ok: boolean) => (ok ? 'ok' : 'degraded');
    return {
      status: mark(healthy),
      checks: {
        ...checks,
        transparencyLog: mark(transparencyLog.healthy),
        ...(alerts && { alerts: mark(alerts.healthy) }),
      },
      transparencyLog,
      ...(alerts && { alerts }),
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
