/**
 * `strikeguard/reader`: the offline half of strikeguard — searching and verifying the audit trail,
 * its log files and its transparency log, proving records and running a witness — without Nest or
 * TypeORM loaded (what the CLI and an auditor's scripts import; the main entry has all of it too).
 */
export { AuditQueryInvalidError, parseAuditQuery } from './audit/audit-query.js';
export { type AuditEvent, type AuditRecord } from './audit/audit-record.js';
export { defaultInstanceId } from './audit/audit.options.js';
export { listLogFiles } from './audit/audit-log.files.js';
export { type LogFileShare, type VerifyResult } from './audit/audit-verifier.js';
export { verifyLogDirectory } from './audit/audit-file-verifier.js';
export { type AuditReader, auditReader } from './audit/audit-reader.js';
export { hashRecord } from './audit/audit-hash.js';
export { type Page } from './common/page.js';
export { type PgQueryable, poolDataSource } from './common/pool-data-source.js';
export { formatTlogProof, parseTlogProof, verifyTlogProof } from './transparency/tlog-proof.js';
export {
  generateNoteKey,
  NOTE_KEY_TYPE,
  type NoteVerifier,
  parseSignerKey,
  parseVerifierKey,
} from './transparency/note-keys.js';
export { RootBuilder } from './transparency/root-builder.js';
export { listen as listenWitness, witnessServer } from './transparency/witness-server.js';
export {
  leafHash,
  MerkleProofError,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from './transparency/merkle.js';
export { openNote, parseNote, signNote } from './transparency/signed-note.js';
export { formatCheckpoint, parseCheckpoint } from './transparency/checkpoint.js';
export { TransparencyReader } from './transparency/transparency-reader.js';
export { cosign, verifyCosignature } from './transparency/cosignature.js';
export { Witness } from './transparency/witness.js';
export { CHECKPOINT_FILE, CHECKPOINTS_FILE } from './transparency/checkpoint-files.js';
