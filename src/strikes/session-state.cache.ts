import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import pg from 'pg';
import { type DataSource } from 'typeorm';
import { STRIKES_DATA_SOURCE } from './strikes-data-source.provider.js';
import { type SessionState, SESSION_CHANNEL, StrikeCounterStore } from './strike-counter.store.js';
import { STRIKES_OPTIONS } from './strikes-options.provider.js';
import { type ResolvedStrikesOptions } from './strikes.options.js';

const RECONNECT_MS = 1000;
/** A partition sends no RST: probe the listening connection so a silent one is noticed. */
const HEARTBEAT_MS = 5000;

/**
 * The guard's in-memory copy of each user's session state, so a request costs no database round
 * trip. Exact across instances: every change is NOTIFYed at commit and each instance LISTENs on a
 * dedicated connection (not from the pool). While that connection is down the cache is bypassed
 * (the guard reads the database) and it is emptied when the connection comes back, since
 * notifications may have been missed.
 */
@Injectable()
export class SessionStateCache implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('StrikesCache');
  private readonly entries = new Map<string, SessionState>();
  private client: pg.Client | null = null;
  private connected: boolean;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  /** Bumped on every invalidation, so a load that raced with one is not cached. */
  private generation = 0;

  private readonly shared: boolean;
  private readonly maxEntries: number;

  constructor(
    @Inject(STRIKES_DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(STRIKES_OPTIONS) options: ResolvedStrikesOptions,
    private readonly store: StrikeCounterStore,
  ) {
    this.shared = options.sharedDatabase;
    this.maxEntries = options.cacheSize;
    // A single process owns the database: its own writes are all there is to invalidate.
    this.connected = !this.shared;
  }

  async onModuleInit(): Promise<void> {
    if (this.shared) await this.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.client?.end().catch(() => undefined);
  }

  /** True when cached entries can be trusted. */
  get usable(): boolean {
    return this.connected;
  }

  get(userId: string): SessionState | undefined {
    if (!this.connected) return undefined;
    const entry = this.entries.get(userId);
    if (entry) {
      // Refresh recency: the Map's insertion order is the eviction order.
      this.entries.delete(userId);
      this.entries.set(userId, entry);
    }
    return entry;
  }

  /**
   * The session state of a user: synchronous from the cache (the common case costs no promise),
   * else read from the database and cached. null when the user has no counter.
   */
  read(userId: string): SessionState | null | Promise<SessionState | null> {
    const cached = this.get(userId);
    if (cached) return cached;
    const generation = this.snapshot();
    return this.store.sessionState(userId).then((state) => {
      if (state) this.set(userId, state, generation);
      return state;
    });
  }

  /** Stores what was read; `generation` is the value of `snapshot()` taken before the read. */
  set(userId: string, state: SessionState, generation: number): void {
    if (!this.connected || generation !== this.generation) return;
    this.entries.set(userId, state);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  snapshot(): number {
    return this.generation;
  }

  /** Forget one user (local change, or a notification from another instance). */
  invalidate(userId: string): void {
    this.generation++;
    this.entries.delete(userId);
  }

  private clear(): void {
    this.generation++;
    this.entries.clear();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client(connectionConfig(this.dataSource));
    client.on('notification', (msg) => {
      if (msg.channel === SESSION_CHANNEL && msg.payload) this.invalidate(msg.payload);
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${SESSION_CHANNEL}`);
      this.client = client;
      this.clear();
      this.connected = true;
      this.heartbeat ??= setInterval(() => this.probe(), HEARTBEAT_MS);
      this.heartbeat.unref();
    } catch (error) {
      this.lost(client, error as Error);
    }
  }

  private probe(): void {
    const client = this.client;
    if (!client) return;
    const timeout = setTimeout(
      () => this.lost(client, new Error('heartbeat timed out')),
      HEARTBEAT_MS / 2,
    );
    client.query('SELECT 1').then(
      () => clearTimeout(timeout),
      (error: Error) => {
        clearTimeout(timeout);
        this.lost(client, error);
      },
    );
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.stopped) return;
    if (client !== this.client && this.client !== null) return;
    if (this.connected)
      this.logger.warn(
        `cache invalidation channel lost (${error.message}); reading the database until it is back`,
      );
    this.connected = false;
    this.client = null;
    this.clear();
    client.end().catch(() => undefined);
    if (!this.stopped && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.connect();
      }, RECONNECT_MS);
      this.timer.unref();
    }
  }
}

/** The pg connection settings of the TypeORM DataSource (url or discrete fields). */
function connectionConfig(dataSource: DataSource): pg.ClientConfig {
  const o = dataSource.options as unknown as Record<string, unknown>;
  return {
    connectionString: o.url as string | undefined,
    host: o.host as string | undefined,
    port: o.port as number | undefined,
    user: o.username as string | undefined,
    password: o.password as string | undefined,
    database: o.database as string | undefined,
    ssl: o.ssl as pg.ClientConfig['ssl'],
    application_name: 'strikeguard-listen',
    keepAlive: true,
    connectionTimeoutMillis: 5000,
  };
}
