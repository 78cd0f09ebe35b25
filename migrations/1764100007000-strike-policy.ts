import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The strike policy beyond the seed's rule (issue 12): decay, timed blocks, monitor mode.
 *
 * - `total`: every strike's weight, for ever (`blocker` is what counts toward the block: within
 *   the decay window when there is one).
 * - `strike_times` / `strike_weights`: with decay on, the strikes still in the window (pruned at
 *   each violation; a blocked account makes no more, so they stay short). Empty without decay.
 * - `blocked_until`: a timed block's end (NULL: until an admin unblocks); `timed_blocks` counts
 *   the timed blocks the account has had (escalation to a permanent one).
 * - `block_simulated`: the block was a monitor-mode one: recorded, refused nothing.
 */
export class StrikePolicy1764100007000 implements MigrationInterface {
  name = 'StrikePolicy1764100007000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE strike_counters
        ADD COLUMN total           integer       NOT NULL DEFAULT 0 CHECK (total >= 0),
        ADD COLUMN strike_times    timestamptz[] NOT NULL DEFAULT '{}',
        ADD COLUMN strike_weights  integer[]     NOT NULL DEFAULT '{}',
        ADD COLUMN blocked_until   timestamptz,
        ADD COLUMN timed_blocks    integer       NOT NULL DEFAULT 0 CHECK (timed_blocks >= 0),
        ADD COLUMN block_simulated boolean       NOT NULL DEFAULT false,
        ADD CONSTRAINT strike_counters_strikes_paired
          CHECK (cardinality(strike_times) = cardinality(strike_weights))`);
    // Counters from before: what they counted toward the block is what they counted in all.
    await db.query(`UPDATE strike_counters SET total = blocker`);
    // The expiry sweeper's question: which timed blocks have ended?
    await db.query(`
      CREATE INDEX strike_counters_block_expiry_idx ON strike_counters (blocked_until)
       WHERE status = 'blocked' AND blocked_until IS NOT NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX strike_counters_block_expiry_idx`);
    await db.query(`
      ALTER TABLE strike_counters
        DROP CONSTRAINT strike_counters_strikes_paired,
        DROP COLUMN total, DROP COLUMN strike_times, DROP COLUMN strike_weights,
        DROP COLUMN blocked_until, DROP COLUMN timed_blocks, DROP COLUMN block_simulated`);
  }
}
