import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  type OnModuleInit,
  type Type,
} from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import { type Request } from 'express';
import { permissionOf, type RestAccessOptions } from './rest-access.js';

/** The access options of the REST module a controller belongs to. */
export const REST_ACCESS = Symbol.for('strikeguard:rest-access');

/**
 * Runs the host's guards, then its predicate, before every route of a REST module. The host's
 * guards are found among the app's providers (so they keep their own dependencies) or created.
 */
@Injectable()
export class RestAccessGuard implements CanActivate, OnModuleInit {
  private guards: CanActivate[] = [];

  constructor(
    @Inject(REST_ACCESS) private readonly access: RestAccessOptions,
    private readonly moduleRef: ModuleRef,
    private readonly reflector: Reflector,
  ) {}

  async onModuleInit(): Promise<void> {
    this.guards = await Promise.all((this.access.guards ?? []).map((g) => this.instance(g)));
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    for (const guard of this.guards) {
      // A guard answering false is Nest's 403, as it would be on a route of the host's own.
      if (!(await guard.canActivate(context))) throw new ForbiddenException('Forbidden resource');
    }
    const permission = permissionOf(context, this.reflector);
    if (!permission) throw new ForbiddenException('this route declares no permission');
    if (this.access.authorize) {
      const request = context.switchToHttp().getRequest<Request>();
      if (!(await this.access.authorize(request, permission)))
        throw new ForbiddenException(`this route requires the permission ${permission}`);
    }
    return true;
  }

  private async instance(type: Type<CanActivate>): Promise<CanActivate> {
    try {
      return this.moduleRef.get(type, { strict: false });
    } catch {
      try {
        return await this.moduleRef.create(type);
      } catch (error) {
        throw new Error(
          `strikeguard REST modules: cannot create the guard ${type.name} (${(error as Error).message}); ` +
            'register it as a provider of your app (providers: [' +
            type.name +
            ']) so it is created with its dependencies',
          { cause: error },
        );
      }
    }
  }
}
