import { Body, Controller, NotFoundException, Param, Put } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Audited, SchemaValidationPipe, ValidationFailedException } from '../../index.js';
import { Protected } from '../auth/protected.decorator.js';
import { UsersService } from '../users/users.service.js';
import { type RoleBody, roleSchema } from './admin.schemas.js';

/** Role grants: the service's own admin route (the strike endpoints come from the library). */
@ApiTags('admin')
@Controller('admin/users')
@Protected('admin')
@Audited({ entityType: 'admin', targetParam: 'userId' })
export class AdminUsersController {
  constructor(private readonly users: UsersService) {}

  @Put(':userId/role')
  @ApiOperation({ summary: 'Grant a role: user, auditor or admin' })
  @ApiBody({ schema: roleSchema as object })
  async role(
    @Param('userId') userId: string,
    @Body(new SchemaValidationPipe<RoleBody>(roleSchema)) body: RoleBody,
  ) {
    if (userId.length > 128 || userId.includes('\u0000') || !userId.isWellFormed())
      throw new ValidationFailedException([
        { path: 'userId', message: 'must be a user id of at most 128 characters' },
      ]);
    const user = await this.users.setRole(userId, body.role);
    if (!user) throw new NotFoundException(`no user ${userId}`);
    return { id: user.id, username: user.username, role: user.role };
  }
}
