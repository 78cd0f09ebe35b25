import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Alert webhooks use `audit_events` as their outbox: `alert_cursors` keeps, per destination, the
 * id of the last alert the receiver acknowledged (2xx). Appends commit in id order (they are
 * serialised on the chain-head row until their commit), so every alert after the cursor is
 * either visible or not committed yet: reading `id > last_id` in id order never skips one.
 *
 * The row is also the deliverer's lease: the instance named in `holder` delivers until
 * `lease_until` (the database's clock), renewing it as it goes; the others stand by and take over
 * once it has lapsed. The delivery state (failures, last error, next attempt) is kept here too,
 * so every instance reports the same in /health.
 */
export class CreateAlertCursor1764100006000 implements MigrationInterface {
  name = 'CreateAlertCursor1764100006000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE alert_cursors (
        destination     text        PRIMARY KEY CHECK (destination ~ '^[a-z0-9_.-]{1,64}$'),
        last_id         bigint      NOT NULL CHECK (last_id >= 0),
        holder          text        CHECK (holder IS NULL OR length(holder) <= 512),
        lease_until     timestamptz,
        delivered_at    timestamptz,
        failures        integer     NOT NULL DEFAULT 0 CHECK (failures >= 0),
        last_error      text        CHECK (last_error IS NULL OR length(last_error) <= 1024),
        last_attempt_at timestamptz,
        next_attempt_at timestamptz,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE alert_cursors`);
  }
}
