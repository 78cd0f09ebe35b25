import { Controller, Get, Request, UseGuards } from '@nestjs/common';
import { Roles } from './auth/roles.decorator.js';
import { RolesGuard } from './auth/roles.guard.js';
import { HostError } from './http/host-error.js';

@Controller()
export class AppController {
  /** The token's payload, as the auth guard put it on the request. */
  @Get('profile')
  getProfile(@Request() req: { user: unknown }) {
    return req.user;
  }

  @Get('admin')
  @Roles('admin')
  @UseGuards(RolesGuard)
  getAdmin() {
    return { area: 'admin', secret: 42 };
  }

  /** A host error: the host's own filter renders it. */
  @Get('boom')
  boom(): never {
    throw new HostError('the flux capacitor is out of sync');
  }
}
