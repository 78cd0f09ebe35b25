import { Controller, Get, Header, Headers, Inject, UnauthorizedException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../rest/index.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import { register } from 'prom-client';
import { APP_CONFIG } from '../config/app-config.provider.js';
import { type AppConfig } from '../config/app-config.js';

/** Prometheus metrics; behind `Authorization: Bearer $METRICS_TOKEN` when METRICS_TOKEN is set. */
@ApiTags('health')
@Controller('metrics')
export class MetricsController {
  private readonly expected: Buffer | null;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.expected = config.metricsToken ? digest(`Bearer ${config.metricsToken}`) : null;
  }

  @Get()
  @Header('content-type', register.contentType)
  @ApiOperation({
    summary: 'Prometheus metrics (strikes, terminations, blocks, audit appends, verifications)',
  })
  @ApiResponse({
    status: 200,
    description: 'Prometheus text exposition format',
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  @ApiErrors({ 401: 'METRICS_TOKEN is set and the request does not carry it' })
  async metrics(@Headers('authorization') authorization: string | undefined): Promise<string> {
    // Compared as digests, in constant time: the token's length and prefix leak nothing.
    if (this.expected && !timingSafeEqual(digest(authorization ?? ''), this.expected)) {
      throw new UnauthorizedException('metrics need Authorization: Bearer <METRICS_TOKEN>');
    }
    return register.metrics();
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
