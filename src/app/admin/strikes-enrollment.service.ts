import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { type DataSource } from 'typeorm';
import { StrikesService } from '../../strikes/strikes.service.js';

/** Backfill at start: every user that predates the strike counters gets one (never lazily). */
@Injectable()
export class StrikesEnrollmentService implements OnApplicationBootstrap {
  private readonly logger = new Logger('StrikesEnrollment');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly strikes: StrikesService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const created = await enrollMissing(this.dataSource, this.strikes);
    if (created > 0)
      this.logger.log(`enrolled ${created} existing user(s) without a strike counter`);
  }
}

/** Creates the missing counters (also `strikeguard strikes enroll-missing`); answers how many. */
export async function enrollMissing(
  dataSource: DataSource,
  strikes: StrikesService,
): Promise<number> {
  const missing: { id: string }[] = await dataSource.query(
    `SELECT u.id::text AS id FROM users u
     WHERE NOT EXISTS (SELECT 1 FROM strike_counters c WHERE c.user_id = u.id::text) ORDER BY u.id`,
  );
  return strikes.enrollMany(missing.map((m) => m.id));
}
