import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The audit trail: an append-only, hash-chained table, and the chain head row every append locks.
 * The record's fields are columns; `instance_id` and `recorded_at` sit outside the record (not
 * hashed): which instance's log file holds the record, and when the database stored it.
 */
export class CreateAuditEvents1764100001000 implements MigrationInterface {
  name = 'CreateAuditEvents1764100001000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE audit_events (
        id           bigint      PRIMARY KEY,
        occurred_at  timestamptz NOT NULL,
        type         text        NOT NULL,
        user_id      text        NOT NULL,
        actor_id     text,
        outcome      text        NOT NULL,
        threat       text        NOT NULL,
        ip           text,
        method       text,
        path         text,
        entity_type  text,
        target_id    text,
        location     text,
        description  text,
        details      jsonb,
        prev_hash    char(64)    NOT NULL,
        hash         char(64)    NOT NULL,
        instance_id  text        NOT NULL,
        recorded_at  timestamptz NOT NULL DEFAULT now()
      )`);
    // Searches return newest (highest id) first within a user, a type or an actor, paged by id.
    await db.query(`CREATE INDEX audit_events_user_idx ON audit_events (user_id, id DESC)`);
    await db.query(`CREATE INDEX audit_events_type_idx ON audit_events (type, id DESC)`);
    await db.query(
      `CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id DESC) WHERE actor_id IS NOT NULL`,
    );
    await db.query(`CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at)`);
    await db.query(
      `CREATE INDEX audit_events_details_idx ON audit_events USING gin (details jsonb_path_ops)`,
    );
    await db.query(`CREATE INDEX audit_events_instance_idx ON audit_events (instance_id, id)`);

    // One row: the id and hash of the newest record. Appends lock it (SELECT … FOR UPDATE), which
    // serialises writers across every instance, so the chain cannot fork.
    await db.query(`
      CREATE TABLE audit_chain_head (
        singleton  boolean  PRIMARY KEY DEFAULT true CHECK (singleton),
        last_id    bigint   NOT NULL,
        last_hash  char(64) NOT NULL
      )`);
    await db.query(`INSERT INTO audit_chain_head (last_id, last_hash) VALUES (0, repeat('0', 64))`);

    // Append-only: no UPDATE, DELETE or TRUNCATE, whoever asks (short of disabling the triggers).
    await db.query(`
      CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await db.query(`
      CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`);
    await db.query(`
      CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE audit_chain_head`);
    await db.query(`DROP TABLE audit_events`);
    await db.query(`DROP FUNCTION audit_events_append_only()`);
  }
}
