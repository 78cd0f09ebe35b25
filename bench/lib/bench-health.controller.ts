import { Controller, Get } from '@nestjs/common';

/** GET /health of the bench's hand-written apps: what `startService` waits for. */
@Controller('health')
export class BenchHealthController {
  @Get()
  health() {
    return { status: 'ok' };
  }
}
