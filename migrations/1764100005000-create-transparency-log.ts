import { type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The transparency log over the audit chain: an RFC 9162 Merkle tree whose leaf `i` is record
 * `i + 1`'s hash, and the signed checkpoints of it.
 *
 * - `audit_tree_nodes`: every complete subtree of two leaves or more, keyed by (level, index):
 *   level L ≥ 1 the hash of leaves [index·2^L, (index+1)·2^L). Leaves are not stored: leaf i is
 *   SHA-256(0x00 ‖ record i+1's hash). A proof is a handful of primary-key reads; the right edge
 *   of a tree of any size is the nodes its set bits name.
 * - `audit_tree_head`: how many records the tree holds (always a gap-free prefix of the chain)
 *   and its root. The integrator locks it, so one instance integrates at a time.
 * - `audit_checkpoints`: every signed checkpoint (a C2SP signed note), by tree size.
 * - `audit_cosignatures`: witnesses' cosignatures (C2SP tlog-cosignature lines) of a checkpoint.
 *
 * Nodes, checkpoints and cosignatures are append-only like the chain. None of this stops the
 * database's owner from rewriting it: what does is a checkpoint held outside (a witness, an
 * auditor's state file), which no rewrite can stay consistent with.
 */
export class CreateTransparencyLog1764100005000 implements MigrationInterface {
  name = 'CreateTransparencyLog1764100005000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE audit_tree_nodes (
        level smallint NOT NULL CHECK (level BETWEEN 1 AND 62),
        index bigint   NOT NULL CHECK (index >= 0),
        hash  bytea    NOT NULL CHECK (length(hash) = 32),
        PRIMARY KEY (level, index)
      )`);
    await db.query(`
      CREATE TABLE audit_tree_head (
        singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
        size       bigint      NOT NULL CHECK (size >= 0),
        root       bytea       NOT NULL CHECK (length(root) = 32),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    // The empty tree's root is SHA-256 of nothing.
    await db.query(`INSERT INTO audit_tree_head (size, root) VALUES (0, sha256(''::bytea))`);
    await db.query(`
      CREATE TABLE audit_checkpoints (
        size      bigint      PRIMARY KEY CHECK (size >= 0),
        root      bytea       NOT NULL CHECK (length(root) = 32),
        note      text        NOT NULL CHECK (length(note) <= 1000000),
        signed_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX audit_checkpoints_signed_idx ON audit_checkpoints (signed_at)`);
    await db.query(`
      CREATE TABLE audit_cosignatures (
        size        bigint      NOT NULL REFERENCES audit_checkpoints (size),
        witness     text        NOT NULL CHECK (length(witness) BETWEEN 1 AND 256),
        line        text        NOT NULL CHECK (length(line) <= 2000),
        cosigned_at timestamptz NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (size, witness)
      )`);
    await db.query(`
      CREATE FUNCTION audit_tree_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END $$`);
    for (const table of ['audit_tree_nodes', 'audit_checkpoints', 'audit_cosignatures']) {
      await db.query(`
        CREATE TRIGGER ${table}_no_update_delete BEFORE UPDATE OR DELETE ON ${table}
        FOR EACH ROW EXECUTE FUNCTION audit_tree_append_only()`);
      await db.query(`
        CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table}
        FOR EACH STATEMENT EXECUTE FUNCTION audit_tree_append_only()`);
    }
    // The head only ever grows.
    await db.query(`
      CREATE FUNCTION audit_tree_head_grows() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.size < OLD.size THEN
          RAISE EXCEPTION 'audit_tree_head only grows: % -> % is not allowed', OLD.size, NEW.size
            USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
      END $$`);
    await db.query(`
      CREATE TRIGGER audit_tree_head_grows BEFORE UPDATE ON audit_tree_head
      FOR EACH ROW EXECUTE FUNCTION audit_tree_head_grows()`);
    await db.query(`
      CREATE TRIGGER audit_tree_head_no_delete BEFORE DELETE ON audit_tree_head
      FOR EACH ROW EXECUTE FUNCTION audit_tree_append_only()`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE audit_cosignatures`);
    await db.query(`DROP TABLE audit_checkpoints`);
    await db.query(`DROP TABLE audit_tree_head`);
    await db.query(`DROP TABLE audit_tree_nodes`);
    await db.query(`DROP FUNCTION audit_tree_head_grows()`);
    await db.query(`DROP FUNCTION audit_tree_append_only()`);
  }
}
