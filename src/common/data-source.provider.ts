import { type FactoryProvider } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import { type DataSource } from 'typeorm';

/**
 * The TypeORM DataSource strikeguard works on. AuditModule provides and exports it (resolved once,
 * by name when the host has several); StrikesModule and the REST modules inject the same one.
 */
export const STRIKEGUARD_DATA_SOURCE = Symbol.for('strikeguard:data-source');

/** Thrown at start when the DataSource strikeguard needs cannot be found. */
export class DataSourceNotFoundError extends Error {
  constructor(name: string | undefined) {
    super(
      name === undefined
        ? 'strikeguard needs a TypeORM DataSource: import TypeOrmModule.forRoot({ type: "postgres", … }) ' +
            'in your app. With several DataSources, name the one that holds the strikeguard tables: ' +
            'AuditModule.forRoot({ dataSource: "<name>", … })'
        : `strikeguard: no TypeORM DataSource named "${name}" (AuditModule option dataSource); ` +
            'register it with TypeOrmModule.forRoot({ name: "' +
            name +
            '", … }) or fix the name',
    );
    this.name = this.constructor.name;
  }
}

/** The host's DataSource (the default one, or `name`): TypeORM's providers are global. */
export function dataSourceProvider(name: string | undefined): FactoryProvider<DataSource> {
  return {
    provide: STRIKEGUARD_DATA_SOURCE,
    // Optional, so that a missing DataSource gets our message instead of Nest's generic one.
    inject: [{ token: getDataSourceToken(name), optional: true }],
    useFactory: (dataSource: DataSource | undefined) => {
      if (!dataSource) throw new DataSourceNotFoundError(name);
      return dataSource;
    },
  };
}
