import {
  Body,
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
  UseGuards,
} from '@nestjs/common';
import { type Request } from 'express';
import { Audited } from '../audit/audited.decorator.js';
import { AuditService } from '../audit/audit.service.js';
import { toPage } from '../common/page.js';
import { SchemaValidationPipe } from '../common/schema-validation.pipe.js';
import { type StrikeCounter } from '../strikes/strike-counter.store.js';
import { StrikesService } from '../strikes/strikes.service.js';
import {
  ApiBearerAuth,
  ApiBody,
  ApiOperation,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from './openapi.decorators.js';
import { ApiErrors } from './openapi.errors.js';
import { pageSchema, strikeCounterSchema } from './openapi.schemas.js';
import { RequirePermission } from './rest-access.js';
import { RestAccessGuard } from './rest-access.guard.js';
import { checkUserId } from '../common/query-params.js';
import { parseCounterListParams, type UnblockBody, unblockSchema } from './strikes-admin.params.js';

/** Strike counters for admins: one user's state, the blocked list, unblocking. Every call is audited. */
@ApiTags('admin')
@ApiBearerAuth()
@ApiErrors(401, 403, 503)
@Controller('admin/strikes')
@UseGuards(RestAccessGuard)
@Audited({ entityType: 'admin', targetParam: 'userId' })
export class StrikesAdminController {
  constructor(
    private readonly strikes: StrikesService,
    private readonly audit: AuditService,
  ) {}

  @Get()
  @RequirePermission('strikes:read')
  @ApiOperation({ summary: 'Counters, by user id: `{items, nextCursor}`' })
  @ApiQuery({ name: 'status', required: false, enum: ['active', 'blocked'] })
  @ApiQuery({ name: 'limit', required: false, description: '1-1000, default 100' })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiResponse({ status: 200, description: 'by user id', schema: pageSchema(strikeCounterSchema) })
  @ApiErrors({ 400: 'an unknown or invalid parameter, each listed in `errors`' })
  async list(@Query() params: Record<string, unknown>) {
    const { status, limit, after } = parseCounterListParams(params);
    const page = toPage(await this.strikes.list(status, limit + 1, after), limit, (last) =>
      Buffer.from(last.userId).toString('base64url'),
    );
    return { items: page.items.map(view), nextCursor: page.nextCursor };
  }

  @Get(':userId')
  @RequirePermission('strikes:read')
  @ApiOperation({ summary: '`{userId, count, blocker, status, blockedAt, lastViolationAt}`' })
  @ApiResponse({ status: 200, description: 'the counter', schema: strikeCounterSchema })
  @ApiErrors({ 400: 'not a user id (at most 128 characters)' }, { 404: 'no counter for this user' })
  async one(@Param('userId') userId: string) {
    const counter = await this.strikes.find(checkUserId(userId));
    if (!counter) throw new NotFoundException(`no strike counter for user ${userId}`);
    return view(counter);
  }

  @Post(':userId/unblock')
  @HttpCode(200)
  @RequirePermission('strikes:unblock')
  @ApiOperation({
    summary: 'Unblock and reset the counters; the reason and the admin are recorded',
  })
  @ApiBody({ schema: unblockSchema as object })
  @ApiResponse({ status: 200, description: 'the reset counter', schema: strikeCounterSchema })
  @ApiErrors(
    { 400: 'invalid body or user id, each field listed in `errors`' },
    { 404: 'no counter for this user' },
    { 413: 'body over the limit (100 kB in the reference service)' },
    { 415: 'body is not JSON (where the host refuses it, as the reference service does)' },
  )
  async unblock(
    @Req() request: Request,
    @Param('userId') userId: string,
    @Body(new SchemaValidationPipe<UnblockBody>(unblockSchema)) body: UnblockBody,
  ) {
    const actor = this.audit.actorOf(request);
    const counter = await this.strikes.unblock(checkUserId(userId), actor, body.reason);
    if (!counter) throw new NotFoundException(`no strike counter for user ${userId}`);
    return view(counter);
  }
}

/** The counter as the API shows it (the session version stays internal). */
function view(c: StrikeCounter) {
  return {
    userId: c.userId,
    count: c.count,
    blocker: c.blocker,
    total: c.total,
    status: c.status,
    simulatedBlock: c.simulatedBlock,
    blockedAt: c.blockedAt,
    blockedUntil: c.blockedUntil,
    timedBlocks: c.timedBlocks,
    oldestCountedAt: c.oldestCountedAt,
    lastViolationAt: c.lastViolationAt,
  };
}
