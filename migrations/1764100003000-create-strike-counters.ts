import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * One counter per user: `count` (towards session termination), `blocker` (cumulative, towards the
 * block), and `session_version`, which tokens carry: a token whose version is behind is refused.
 */
export class CreateStrikeCounters1764100003000 implements MigrationInterface {
  name = 'CreateStrikeCounters1764100003000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE strike_counters (
        user_id           text        PRIMARY KEY CHECK (length(user_id) BETWEEN 1 AND 128),
        count             integer     NOT NULL DEFAULT 0 CHECK (count >= 0),
        blocker           integer     NOT NULL DEFAULT 0 CHECK (blocker >= 0),
        session_version   integer     NOT NULL DEFAULT 0,
        status            text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked')),
        blocked_at        timestamptz,
        last_violation_at timestamptz,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX strike_counters_status_idx ON strike_counters (status, user_id)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE strike_counters`);
  }
}
