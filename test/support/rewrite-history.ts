import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';

/**
 * The database owner's rewrite: record `id`'s details changed, its hash and every later hash and
 * link recomputed, the chain head moved, the tree tables rebuilt from the new hashes: every
 * table is consistent with itself again. Done as superuser with the append-only triggers off.
 * With `logDir`, the log files too: every line from record `id` on rewritten to match.
 */
export async function rewriteHistory(sql: pg.Client, id: number, logDir?: string): Promise<void> {
  const { hashRecord } = await import('../../src/audit/audit-hash.js');
  const { RECORD_SELECT } = await import('../../src/audit/audit-store.js');
  await sql.query('BEGIN');
  await sql.query(`SET session_replication_role = replica`); // triggers off
  await sql.query(`UPDATE audit_events SET details = '{"rewritten": true}' WHERE id = $1`, [id]);
  const { rows } = await sql.query(
    `SELECT ${RECORD_SELECT} FROM audit_events WHERE id >= $1 ORDER BY audit_events.id`,
    [id],
  );
  const [prev] = (
    await sql.query<{ hash: string }>(`SELECT hash FROM audit_events WHERE id = $1`, [id - 1])
  ).rows;
  let prevHash = prev.hash;
  for (const r of rows) {
    const { hash: _old, ...rest } = r;
    const rec = { ...rest, prevHash };
    const hash = hashRecord(rec);
    await sql.query(`UPDATE audit_events SET prev_hash = $2, hash = $3 WHERE id = $1`, [
      r.id,
      prevHash,
      hash,
    ]);
    prevHash = hash;
  }
  await sql.query(`UPDATE audit_chain_head SET last_hash = $1`, [prevHash]);
  // The tree rebuilt from the rewritten hashes, nodes and head alike.
  const { rows: all } = await sql.query<{ hash: string }>(
    `SELECT hash FROM audit_events ORDER BY id`,
  );
  const { leafHash, nodeHash } = await import('../../src/index.js');
  await sql.query(`DELETE FROM audit_tree_nodes`);
  const treeSize = Number(
    (await sql.query<{ size: string }>(`SELECT size FROM audit_tree_head`)).rows[0].size,
  );
  let level = all.slice(0, treeSize).map((r) => leafHash(Buffer.from(r.hash, 'hex')));
  for (let l = 0; level.length > 0; l++) {
    if (l > 0)
      // leaves are not stored: they are the records' hashes
      await sql.query(
        `INSERT INTO audit_tree_nodes (level, index, hash)
       SELECT $1, i - 1, h FROM unnest($2::bytea[]) WITH ORDINALITY AS t(h, i)`,
        [l, level],
      );
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash(level[i], level[i + 1]));
    level = next;
  }
  const { rootOf } = await import('../../src/index.js');
  await sql.query(`UPDATE audit_tree_head SET root = $1`, [
    rootOf(all.slice(0, treeSize).map((r) => leafHash(Buffer.from(r.hash, 'hex')))),
  ]);
  await sql.query(`SET session_replication_role = origin`);
  await sql.query('COMMIT');
  if (logDir) {
    const { recordLine } = await import('../../src/audit/audit-hash.js');
    const { rows: records } = await sql.query(
      `SELECT ${RECORD_SELECT} FROM audit_events WHERE id >= $1 ORDER BY audit_events.id`,
      [id],
    );
    const byId = new Map(records.map((r) => [r.id as number, r]));
    for (const name of fs.readdirSync(logDir).filter((f) => f.startsWith('audit.log'))) {
      const file = path.join(logDir, name);
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      const out = lines.map((line) => {
        if (!line) return line;
        const rec = JSON.parse(line);
        const replaced = byId.get(rec.id);
        return replaced ? recordLine(replaced).replace(/\n$/, '') : line;
      });
      fs.writeFileSync(file, out.join('\n'));
    }
  }
}
