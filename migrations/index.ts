import { CreateUsers1764100000000 } from './1764100000000-create-users.js';

/** Every migration, in order. Listed explicitly so the compiled service needs no file globbing. */
export const migrations = [CreateUsers1764100000000];
