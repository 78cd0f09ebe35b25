import { Controller, Get, UnauthorizedException } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { userSchema } from '../openapi/response-schemas.js';
import { Protected } from '../auth/protected.decorator.js';
import { CurrentPrincipal } from '../auth/current-principal.decorator.js';
import { type Principal } from '../auth/principal.js';
import { UsersService } from '../users/users.service.js';

@ApiTags('me')
@Controller('me')
@Protected()
export class MeController {
  constructor(private readonly users: UsersService) {}

  @Get()
  @ApiOperation({ summary: 'The calling user: `{id, username, role}`' })
  @ApiResponse({ status: 200, description: 'the calling user', schema: userSchema })
  async me(@CurrentPrincipal() principal: Principal) {
    const user = await this.users.findById(principal.id);
    if (!user) throw new UnauthorizedException('the user of this token no longer exists');
    return { id: user.id, username: user.username, role: user.role };
  }
}
