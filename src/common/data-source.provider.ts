import { type FactoryProvider, type InjectionToken } from '@nestjs/common';
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

const DEFAULT_NAME = 'default';
/** Polling for a named DataSource TypeORM is still connecting: from 5 ms, doubling to 200 ms. */
const POLL_MS = [5, 200] as const;

/**
 * The host's DataSource: the default one, or the one named by the module's options. The options
 * may come from `forRootAsync`, so the name is only known when this factory runs:
 * - the default DataSource is injected (optional), so Nest creates it first and a missing one
 *   gets our message instead of Nest's generic one;
 * - a named one is looked up among TypeORM's (global) providers when the factory runs, and waited
 *   for while TypeORM is still connecting it (nothing else can order it: its token is not known
 *   when the module is defined).
 */
export function dataSourceProvider<O>(
  optionsToken: InjectionToken,
  nameOf: (options: O) => string | undefined,
): FactoryProvider<Promise<DataSource>> {
  return {
    provide: STRIKEGUARD_DATA_SOURCE,
    inject: [optionsToken, ModuleRef, { token: getDataSourceToken(), optional: true }],
    useFactory: async (options: O, moduleRef: ModuleRef, byDefault: DataSource | undefined) => {
      const name = nameOf(options);
      if (name === undefined || name === DEFAULT_NAME) {
        if (!byDefault) throw new DataSourceNotFoundError(undefined);
        return byDefault;
      }
      return namedDataSource(moduleRef, name);
    },
  };
}

/** TypeORM's DataSource `name`, once its (async) provider has produced it. */
async function namedDataSource(moduleRef: ModuleRef, name: string): Promise<DataSource> {
  const token = getDataSourceToken(name);
  for (let wait: number = POLL_MS[0]; ; wait = Math.min(wait * 2, POLL_MS[1])) {
    let found: unknown;
    try {
      found = moduleRef.get(token, { strict: false });
    } catch {
      throw new DataSourceNotFoundError(name); // no provider with that token anywhere
    }
    if (isDataSource(found)) return found;
    if (found) throw new DataSourceNotFoundError(name); // something else under that token
    // Registered, not created yet: TypeORM is connecting. If that fails, Nest's start fails with
    // TypeORM's error; the timer is unref'd so this wait never keeps a process alive.
    await new Promise((resolve) => setTimeout(resolve, wait).unref());
  }
}

/** Duck-typed: a host with its own copy of typeorm has another DataSource class. */
function isDataSource(value: unknown): value is DataSource {
  const v = value as Partial<DataSource> | null | undefined;
  return typeof v?.query === 'function' && typeof v?.transaction === 'function';
}
