import { DataSource } from 'typeorm';
import { dataSourceOptions } from './src/app/database/data-source-options.js';

// Used by `npm run migration:run` / `migration:revert` (TypeORM CLI on the compiled output).
// The CLI needs a server: the embedded database migrates itself whenever the service starts.
const url = process.env.DATABASE_URL;
if (!url) {
  throw new Error(
    'DATABASE_URL is not set: the migration CLI needs a PostgreSQL server. ' +
      'The embedded database (no DATABASE_URL) is migrated by the service itself at start-up.',
  );
}

export default new DataSource(dataSourceOptions({ url, poolSize: 2, embedded: false }));
