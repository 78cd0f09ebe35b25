import {
  Body,
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Put,
  Query,
} from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Audited } from '../../audit/audited.decorator.js';
import { StrikesService } from '../../strikes/strikes.service.js';
import { CurrentPrincipal } from '../auth/current-principal.decorator.js';
import { type Principal } from '../auth/principal.js';
import { Protected } from '../auth/protected.decorator.js';
import { parseLimit, unknownParams } from '../../common/query-params.js';
import {
  SchemaValidationPipe,
  ValidationFailedException,
} from '../../common/schema-validation.pipe.js';
import { toPage } from '../../common/page.js';
import { UsersService } from '../users/users.service.js';
import { type RoleBody, roleSchema, type UnblockBody, unblockSchema } from './admin.schemas.js';

/** Admin REST: strike counters, unblocking, roles. Every call is an audit event. */
@ApiTags('admin')
@Controller('admin')
@Protected('admin')
@Audited({ entityType: 'admin', targetParam: 'userId' })
export class AdminController {
  constructor(
    private readonly strikes: StrikesService,
    private readonly users: UsersService,
  ) {}

  @Get('strikes')
  @ApiOperation({ summary: 'Counters, by user id: `{items, nextCursor}`' })
  @ApiQuery({ name: 'status', required: false, enum: ['active', 'blocked'] })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  async list(@Query() params: Record<string, unknown>) {
    const { status, limit, after } = parseListParams(params);
    const page = toPage(await this.strikes.list(status, limit + 1, after), limit, (last) =>
      Buffer.from(last.userId).toString('base64url'),
    );
    return { items: page.items.map(view), nextCursor: page.nextCursor };
  }

  @Get('strikes/:userId')
  @ApiOperation({ summary: '`{userId, count, blocker, status, blockedAt, lastViolationAt}`' })
  async one(@Param('userId') userId: string) {
    const counter = await this.strikes.find(checkUserId(userId));
    if (!counter) throw new NotFoundException(`no strike counter for user ${userId}`);
    return view(counter);
  }

  @Post('strikes/:userId/unblock')
  @HttpCode(200)
  @ApiOperation({ summary: 'Unblock and reset the counters; the reason is recorded' })
  @ApiBody({ schema: unblockSchema as object })
  async unblock(
    @CurrentPrincipal() admin: Principal,
    @Param('userId') userId: string,
    @Body(new SchemaValidationPipe<UnblockBody>(unblockSchema)) body: UnblockBody,
  ) {
    const counter = await this.strikes.unblock(checkUserId(userId), admin.id, body.reason);
    if (!counter) throw new NotFoundException(`no strike counter for user ${userId}`);
    return view(counter);
  }

  @Put('users/:userId/role')
  @ApiOperation({ summary: 'Grant a role: user, auditor or admin' })
  @ApiBody({ schema: roleSchema as object })
  async role(
    @Param('userId') userId: string,
    @Body(new SchemaValidationPipe<RoleBody>(roleSchema)) body: RoleBody,
  ) {
    const user = await this.users.setRole(checkUserId(userId), body.role);
    if (!user) throw new NotFoundException(`no user ${userId}`);
    return { id: user.id, username: user.username, role: user.role };
  }
}

function view(c: {
  userId: string;
  count: number;
  blocker: number;
  status: string;
  blockedAt: string | null;
  lastViolationAt: string | null;
}) {
  return {
    userId: c.userId,
    count: c.count,
    blocker: c.blocker,
    status: c.status,
    blockedAt: c.blockedAt,
    lastViolationAt: c.lastViolationAt,
  };
}

function checkUserId(userId: string): string {
  if (userId.length > 128 || userId.includes('\u0000') || !userId.isWellFormed()) {
    throw new ValidationFailedException([
      { path: 'userId', message: 'must be a user id of at most 128 characters' },
    ]);
  }
  return userId;
}

function parseListParams(params: Record<string, unknown>) {
  const errors = unknownParams(params, ['status', 'limit', 'cursor']);
  const { status, cursor } = params;
  if (status !== undefined && status !== 'active' && status !== 'blocked') {
    errors.push({ path: 'status', message: 'must be active or blocked' });
  }
  const limit = parseLimit(params, 'limit', errors);
  let after: string | undefined;
  if (cursor !== undefined) {
    after =
      typeof cursor === 'string' && /^[A-Za-z0-9_-]{1,200}$/.test(cursor)
        ? Buffer.from(cursor, 'base64url').toString('utf8')
        : undefined;
    if (!after || after.includes('\u0000') || !after.isWellFormed())
      errors.push({ path: 'cursor', message: 'is not a cursor this API returned' });
  }
  if (errors.length) throw new ValidationFailedException(errors);
  return { status: status as 'active' | 'blocked' | undefined, limit, after };
}
