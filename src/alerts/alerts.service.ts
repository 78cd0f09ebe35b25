import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
  Optional,
} from '@nestjs/common';
import { type DataSource } from 'typeorm';
import { AUDIT_OPTIONS, type ResolvedAuditOptions } from '../audit/audit.options.js';
import { STRIKEGUARD_DATA_SOURCE } from '../common/data-source.provider.js';
import { AlertCursorStore } from './alert-cursor.store.js';
import { AlertDispatcher, type AlertsStatus } from './alert-dispatcher.js';
import { ALERTS_OPTIONS } from './alerts-options.provider.js';
import { type ResolvedAlertsOptions } from './alerts.options.js';
import { alertMigrationMissing, auditModuleMissing } from './alerts-setup.errors.js';

/**
 * Runs the alert dispatcher of AlertsModule: from application bootstrap (every module, and the
 * migrations, ready) until shutdown, when the request in flight is drained and the lease given
 * up. `status()` is what /health shows; it reads memory only.
 */
@Injectable()
export class AlertsService implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly dispatcher: AlertDispatcher;
  private readonly store: AlertCursorStore;

  constructor(
    @Inject(ALERTS_OPTIONS) readonly options: ResolvedAlertsOptions,
    @Optional() @Inject(STRIKEGUARD_DATA_SOURCE) dataSource: DataSource | undefined,
    @Optional() @Inject(AUDIT_OPTIONS) audit: ResolvedAuditOptions | undefined,
  ) {
    if (!dataSource || !audit) throw auditModuleMissing();
    this.store = new AlertCursorStore(dataSource);
    this.dispatcher = new AlertDispatcher(
      dataSource,
      options,
      audit.instanceId,
      new Logger('Alerts'),
    );
  }

  async onModuleInit(): Promise<void> {
    const { exists, database } = await this.store.tableExists();
    if (!exists) throw alertMigrationMissing(database);
  }

  /** Before the app serves: an alert recorded from then on is never behind a new cursor. */
  async onApplicationBootstrap(): Promise<void> {
    await this.dispatcher.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.dispatcher.stop();
  }

  /** This instance's view of the destination: cursor, lag, failures, next attempt. */
  status(): AlertsStatus {
    return this.dispatcher.status();
  }
}
