import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG } from '../config/app-config.provider.js';
import { type AppConfig } from '../config/app-config.js';
import { UsernameTakenError } from './users.repository.js';
import { UsersService } from './users.service.js';

/** Creates the ADMIN_USERNAME account at start when it does not exist yet. */
@Injectable()
export class AdminBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger(AdminBootstrapService.name);

  constructor(
    private readonly users: UsersService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const admin = this.config.admin;
    if (!admin) return;
    const existing = await this.users.findByUsername(admin.username);
    if (existing) {
      // Never promote or re-password an account someone may have registered under that name.
      if (existing.role !== 'admin') {
        this.logger.warn(
          `ADMIN_USERNAME "${admin.username}" belongs to an existing account whose role is "${existing.role}"; ` +
            'it was left unchanged: choose another ADMIN_USERNAME or grant the role deliberately',
        );
      }
      return;
    }
    try {
      await this.users.create(admin.username, admin.password, 'admin');
      this.logger.log(`created admin account "${admin.username}"`);
    } catch (error) {
      // Another instance created it a moment ago.
      if (!(error instanceof UsernameTakenError)) throw error;
    }
  }
}
