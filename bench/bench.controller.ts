import {
  Body,
  Controller,
  Get,
  HttpCode,
  Post,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { CurrentPrincipal } from '../src/app/auth/current-principal.decorator.js';
import { JwtAuthGuard } from '../src/app/auth/jwt-auth.guard.js';
import { type Principal } from '../src/app/auth/principal.js';
import { Protected } from '../src/app/auth/protected.decorator.js';
import { Roles, Scopes } from '../src/app/auth/roles.decorator.js';
import { UsersService } from '../src/app/users/users.service.js';

/**
 * Baseline routes, added to the reference service only in the bench process (service-main.ts).
 * Each mirrors a real route and leaves out exactly what its figure measures.
 */
@ApiExcludeController()
@Controller('bench')
export class BenchController {
  constructor(private readonly users: UsersService) {}

  /** GET /me with JWT authentication only: no StrikeGuard (nor RolesGuard); same handler. */
  @Get('jwt-only/me')
  @UseGuards(JwtAuthGuard)
  async me(@CurrentPrincipal() principal: Principal) {
    const user = await this.users.findById(principal.id);
    if (!user) throw new UnauthorizedException('the user of this token no longer exists');
    return { id: user.id, username: user.username, role: user.role };
  }

  /** POST /audit/events' guards, roles, scopes and body parsing; a handler that does nothing. */
  @Post('noop')
  @Protected()
  @Roles('admin')
  @Scopes('audit:write')
  @HttpCode(201)
  noop(@Body() _body: unknown) {
    return { ids: [] };
  }
}
