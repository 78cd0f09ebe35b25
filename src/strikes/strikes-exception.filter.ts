import { type ArgumentsHost, Catch, Injectable } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { type Request } from 'express';
import { StrikesService } from './strikes.service.js';

/**
 * Charges violations, guards' 403s included, then renders the error as Nest does. Register it
 * globally (APP_FILTER). With an exception filter of your own, call
 * `StrikesService.chargeForException(exception, request)` from it instead.
 */
@Catch()
@Injectable()
export class StrikesExceptionFilter extends BaseExceptionFilter {
  constructor(private readonly strikes: StrikesService) {
    super();
  }

  override async catch(exception: unknown, host: ArgumentsHost): Promise<void> {
    if (host.getType() !== 'http') return super.catch(exception, host);
    const request = host.switchToHttp().getRequest<Request>();
    super.catch(await this.strikes.chargeForException(exception, request), host);
  }
}
