import { type FactoryProvider } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import { type DataSource } from 'typeorm';

/**
 * The TypeORM DataSource strikeguard works on. AuditModule provides and exports it (resolved once,
 * by name when the host has several); StrikesModule and the REST modules inject the same one.
 */
export const STRIKEGUARD_DATA_SOURCE = Symbol.for('strikeguard:data-source');

/** Thrown at start when the DataSource strikeguard needs cannot be found. */
export class DataSourceNotFoundError extends Error {
  constructor(name: string | undefined, cause: unknown) {
    super(
      name === undefined
        ? 'strikeguard needs a TypeORM DataSource: import TypeOrmModule.forRoot({ type: "postgres", … }) ' +
            'in your app. With several DataSources, name the one that holds the strikeguard tables: ' +
            'AuditModule.forRoot({ dataSource: "<name>", … })'
        : `strikeguard: no TypeORM DataSource named "${name}" (AuditModule option dataSource); ` +
            'register it with TypeOrmModule.forRoot({ name: "' +
            name +
            '", … }) or fix the name',
      { cause },
    );
    this.name = this.constructor.name;
  }
}

/** Finds the host's DataSource (the default one, or `name`) anywhere in the app. */
export function dataSourceProvider(name: string | undefined): FactoryProvider<DataSource> {
  return {
    provide: STRIKEGUARD_DATA_SOURCE,
    inject: [ModuleRef],
    useFactory: (moduleRef: ModuleRef) => {
      try {
        return moduleRef.get<DataSource>(getDataSourceToken(name), { strict: false });
      } catch (error) {
        throw new DataSourceNotFoundError(name, error);
      }
    },
  };
}
