import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { type DataSource } from 'typeorm';
import { StrikesService, enrollMissing } from '../../index.js';

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
