import { TypeOrmModule } from '@nestjs/typeorm';
import {
  AuditModule,
  type AuditModuleOptions,
  StrikesModule,
  type StrikesModuleOptions,
  strikeguardMigrations,
} from '../../src/index.js';

/**
 * What a host app imports to run strikeguard on a test database: TypeORM with the library's
 * migrations, AuditModule (no fsync: tests do not need power-cut durability) and StrikesModule.
 */
export function strikeguardImports(
  url: string,
  logDir: string,
  strikes: StrikesModuleOptions = {},
  audit: Partial<AuditModuleOptions> = {},
) {
  return [
    TypeOrmModule.forRoot({
      type: 'postgres',
      url,
      migrations: strikeguardMigrations,
      migrationsRun: true,
    }),
    AuditModule.forRoot({ logDir, fsync: false, ...audit }),
    StrikesModule.forRoot(strikes),
  ];
}
