import { type MigrationInterface } from 'typeorm';
import { strikeguardMigrations } from '../../../index.js';
import { CreateUsers1764100000000 } from './1764100000000-create-users.js';
import { CreateServiceTokens1764100002000 } from './1764100002000-create-service-tokens.js';

/** The 13-digit timestamp TypeORM orders migrations by, from the class name. */
function timestampOf(migration: new () => MigrationInterface): number {
  const match = /(\d{13})$/.exec(migration.name);
  if (!match) throw new Error(`migration ${migration.name} has no timestamp suffix`);
  return Number(match[1]);
}

/**
 * Every migration of the reference service, in order: its own tables (users, service tokens) and
 * the library's, as any host composes them. Listed explicitly: no file globbing. The classes keep
 * their names and timestamps: existing databases have them recorded by name.
 */
export const serviceMigrations = [
  CreateUsers1764100000000,
  CreateServiceTokens1764100002000,
  ...strikeguardMigrations,
].sort((a, b) => timestampOf(a) - timestampOf(b));
