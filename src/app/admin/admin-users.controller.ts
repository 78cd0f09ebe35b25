import { Body, Controller, NotFoundException, Param, Put } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../rest/index.js';
import { userSchema } from '../openapi/response-schemas.js';
import { Audited, checkUserId, SchemaValidationPipe } from '../../index.js';
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
  @ApiResponse({ status: 200, description: 'the user with its new role', schema: userSchema })
  @ApiErrors(
    { 400: 'invalid role or user id, each listed in `errors`' },
    { 404: 'no such user' },
    { 413: 'body over 100 kB' },
    { 415: 'body is not JSON (Content-Type: application/json)' },
  )
  async role(
    @Param('userId') userId: string,
    @Body(new SchemaValidationPipe<RoleBody>(roleSchema)) body: RoleBody,
  ) {
    const user = await this.users.setRole(checkUserId(userId), body.role);
    if (!user) throw new NotFoundException(`no user ${userId}`);
    return { id: user.id, username: user.username, role: user.role };
  }
}
