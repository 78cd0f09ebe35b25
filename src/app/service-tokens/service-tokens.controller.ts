import { Body, Controller, Delete, Get, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors, pageSchema } from '../../rest/index.js';
import { issuedServiceTokenSchema, serviceTokenSchema } from '../openapi/response-schemas.js';
import { Protected } from '../auth/protected.decorator.js';
import { CurrentPrincipal } from '../auth/current-principal.decorator.js';
import { type Principal } from '../auth/principal.js';
import {
  type IssueServiceTokenBody,
  issueServiceTokenSchema,
  parseTtl,
} from './service-tokens.schemas.js';
import { ServiceTokensService } from './service-tokens.service.js';
import {
  toPage,
  parseLimit,
  unknownParams,
  UUID,
  SchemaValidationPipe,
  ValidationFailedException,
} from '../../index.js';

@ApiTags('service tokens')
@Controller('auth/service-tokens')
@Protected('admin')
export class ServiceTokensController {
  constructor(private readonly tokens: ServiceTokensService) {}

  @Post()
  @ApiOperation({ summary: 'Issue a token for another system; the token is shown only here' })
  @ApiBody({ schema: issueServiceTokenSchema as object })
  @ApiResponse({
    status: 201,
    description: 'the token and its record',
    schema: issuedServiceTokenSchema,
  })
  @ApiErrors(
    { 400: 'invalid name, scopes or ttl, each listed in `errors`' },
    { 413: 'body over 100 kB' },
    { 415: 'body is not JSON (Content-Type: application/json)' },
  )
  issue(
    @CurrentPrincipal() admin: Principal,
    @Body(new SchemaValidationPipe<IssueServiceTokenBody>(issueServiceTokenSchema))
    body: IssueServiceTokenBody,
  ) {
    const ttl = parseTtl(body.ttl);
    if (ttl === null) {
      throw new ValidationFailedException([
        {
          path: 'ttl',
          message: 'must be a duration from 1s to 365d (seconds, or with s, m, h, d)',
        },
      ]);
    }
    return this.tokens.issue(admin.id, body.name, body.scopes, ttl);
  }

  @Get()
  @ApiOperation({ summary: 'Service tokens, newest first: `{items, nextCursor}`' })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiResponse({ status: 200, description: 'newest first', schema: pageSchema(serviceTokenSchema) })
  @ApiErrors({ 400: 'an unknown or invalid parameter, each listed in `errors`' })
  async list(@Query() params: Record<string, unknown>) {
    const { limit, before } = parseListParams(params);
    return toPage(await this.tokens.list(limit + 1, before), limit, (last) =>
      Buffer.from(JSON.stringify([last.createdAt, last.id])).toString('base64url'),
    );
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Revoke a service token (effective at once); answers the token' })
  @ApiResponse({ status: 200, description: 'the revoked token', schema: serviceTokenSchema })
  @ApiErrors({ 400: 'not a service token id' }, { 404: 'no such service token' })
  revoke(@CurrentPrincipal() admin: Principal, @Param('id') id: string) {
    if (!UUID.test(id)) {
      throw new ValidationFailedException([{ path: 'id', message: 'must be a service token id' }]);
    }
    return this.tokens.revoke(admin.id, id);
  }
}

function parseListParams(params: Record<string, unknown>): {
  limit: number;
  before?: { createdAt: string; id: string };
} {
  const errors = unknownParams(params, ['limit', 'cursor']);
  const limit = parseLimit(params, 'limit', errors);
  let before: { createdAt: string; id: string } | undefined;
  if (params.cursor !== undefined) {
    try {
      const [createdAt, id] = JSON.parse(
        Buffer.from(String(params.cursor), 'base64url').toString('utf8'),
      );
      if (
        typeof createdAt !== 'string' ||
        !Number.isFinite(Date.parse(createdAt)) ||
        !UUID.test(id)
      )
        throw new Error();
      before = { createdAt, id };
    } catch {
      errors.push({ path: 'cursor', message: 'is not a cursor this API returned' });
    }
  }
  if (errors.length) throw new ValidationFailedException(errors);
  return { limit, before };
}
