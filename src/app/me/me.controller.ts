import { Controller, Get, UnauthorizedException, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/current-principal.decorator.js';
import { JwtAuthGuard } from '../auth/jwt-auth.guard.js';
import { type Principal } from '../auth/principal.js';
import { UsersService } from '../users/users.service.js';

@ApiTags('me')
@ApiBearerAuth()
@Controller('me')
@UseGuards(JwtAuthGuard)
export class MeController {
  constructor(private readonly users: UsersService) {}

  @Get()
  @ApiOperation({ summary: 'The calling user: `{id, username, role}`' })
  async me(@CurrentPrincipal() principal: Principal) {
    const user = await this.users.findById(principal.id);
    if (!user) throw new UnauthorizedException('the user of this token no longer exists');
    return { id: user.id, username: user.username, role: user.role };
  }
}
