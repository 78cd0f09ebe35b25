import { Controller, Delete, Get, Param, Query, Req, UseGuards } from '@nestjs/common';
import { type Request } from 'express';
import { Audited } from '../audit/audited.decorator.js';
import { AuditService } from '../audit/audit.service.js';
import { toPage } from '../common/page.js';
import { checkUserId } from '../common/query-params.js';
import { LoginThrottleService } from '../login/login-throttle.service.js';
import { LoginAttemptInvalidError } from '../login/login-throttled.exception.js';
import {
  invalidSource,
  parseSourceListParams,
  sourceAddress,
  sourceCursor,
} from './login-throttle-admin.params.js';
import {
  ApiBearerAuth,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from './openapi.decorators.js';
import { ApiErrors } from './openapi.errors.js';
import {
  loginClearedSourceSchema,
  loginClearedUserSchema,
  loginSourceSchema,
  loginThrottleStatusSchema,
  pageSchema,
} from './openapi.schemas.js';
import { RequirePermission } from './rest-access.js';
import { RestAccessGuard } from './rest-access.guard.js';

/**
 * The login throttle for admins: a user's lanes, clearing a user or a source, the sources seen.
 * Every call is audited; a clear also records `auth.lockout_cleared` with the admin as actor.
 */
@ApiTags('admin')
@ApiBearerAuth()
@ApiErrors(401, 403, 503)
@Controller('admin/login-throttle')
@UseGuards(RestAccessGuard)
@Audited({ entityType: 'admin', targetParam: 'userId' })
export class LoginThrottleAdminController {
  constructor(
    private readonly throttle: LoginThrottleService,
    private readonly audit: AuditService,
  ) {}

  @Get('users/:userId')
  @RequirePermission('login-throttle:read')
  @ApiOperation({
    summary: "A user's login throttle: `{userId, failures, blockedUntil, lanes, trustedDevices}`",
    description:
      'Every lane of every login name the user was seen under. A user the throttle has never ' +
      'seen has no lanes (it does not tell whether the user exists).',
  })
  @ApiResponse({ status: 200, description: 'the lanes', schema: loginThrottleStatusSchema })
  @ApiErrors({ 400: 'not a user id (at most 128 characters)' })
  status(@Param('userId') userId: string) {
    return this.throttle.status(checkUserId(userId));
  }

  @Delete('users/:userId')
  @RequirePermission('login-throttle:clear')
  @ApiOperation({
    summary: "Clear every lane of a user's logins, hard stop included; the admin is recorded",
  })
  @ApiResponse({
    status: 200,
    description: '`auth.lockout_cleared` was recorded with the admin as actor',
    schema: loginClearedUserSchema,
  })
  @ApiErrors({ 400: 'not a user id (at most 128 characters)' })
  clearUser(@Req() request: Request, @Param('userId') userId: string) {
    return this.throttle.clearUser(checkUserId(userId), {
      actorId: this.audit.actorOf(request),
      via: 'admin',
    });
  }

  @Get('sources')
  @RequirePermission('login-throttle:read')
  @ApiOperation({ summary: 'Sources of login failures, by source: `{items, nextCursor}`' })
  @ApiQuery({
    name: 'throttled',
    required: false,
    enum: ['true', 'false'],
    description: 'true: only the sources blocked now (default false)',
  })
  @ApiQuery({ name: 'limit', required: false, description: '1-1000, default 100' })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiResponse({ status: 200, description: 'by source', schema: pageSchema(loginSourceSchema) })
  @ApiErrors({ 400: 'an unknown or invalid parameter, each listed in `errors`' })
  async sources(@Query() params: Record<string, unknown>) {
    const { throttled, limit, after } = parseSourceListParams(params);
    const rows = await this.throttle.sources({ throttled, limit: limit + 1, after });
    return toPage(rows, limit, (last) => sourceCursor(last.source));
  }

  @Delete('sources/:ip')
  @RequirePermission('login-throttle:clear')
  @Audited({ entityType: 'admin', targetParam: 'ip' })
  @ApiOperation({
    summary: "Clear a source's lanes (its own and its account lanes); the admin is recorded",
    description:
      'An IPv6 address clears its /64, which may also be given as `GET …/sources` lists it ' +
      '(`2001:db8:0:0::/64`, URL-encoded). The `account` and `hard` lanes of the accounts it ' +
      'attacked stay: clear those per user.',
  })
  @ApiParam({ name: 'ip', description: 'an IPv4 or IPv6 address', example: '203.0.113.7' })
  @ApiResponse({
    status: 200,
    description: '`auth.lockout_cleared` was recorded with the admin as actor',
    schema: loginClearedSourceSchema,
  })
  @ApiErrors({ 400: 'not an IPv4 or IPv6 address' })
  async clearSource(@Req() request: Request, @Param('ip') ip: string) {
    try {
      return await this.throttle.clearSource(sourceAddress(ip), {
        actorId: this.audit.actorOf(request),
        via: 'admin',
      });
    } catch (error) {
      if (error instanceof LoginAttemptInvalidError) throw invalidSource();
      throw error;
    }
  }
}
