import { Controller, Get, Header, NotFoundException, Query, UseGuards } from '@nestjs/common';
import { unknownParams } from '../common/query-params.js';
import { ValidationFailedException } from '../common/schema-validation.pipe.js';
import { ProofRangeError } from '../transparency/tree-proofs.js';
import { TransparencyLogService } from '../transparency/transparency-log.service.js';
import { type ConsistencyProof, type InclusionProof } from '../transparency/transparency-reader.js';
import { parseId } from './audit-api.params.js';
import { ApiErrors } from './openapi.errors.js';
import {
  ApiBearerAuth,
  ApiOperation,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from './openapi.decorators.js';
import { RequirePermission } from './rest-access.js';
import { RestAccessGuard } from './rest-access.guard.js';

const base64Hash = { type: 'string', format: 'byte', example: 'ZG9uJ3QgY2FyZSAx…' };

/** The transparency log: the signed checkpoint, its key, and proofs against it. */
@ApiTags('audit')
@Controller('audit/log')
@UseGuards(RestAccessGuard)
@ApiBearerAuth()
@RequirePermission('audit:read')
@ApiErrors(401, 403)
export class TransparencyLogController {
  constructor(private readonly log: TransparencyLogService) {}

  @Get('checkpoint')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary:
      'The latest checkpoint (C2SP tlog-checkpoint) as a C2SP signed note: the log signature, then every witness cosignature',
  })
  @ApiResponse({
    status: 200,
    description: 'the signed note',
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  @ApiErrors(
    { 400: 'a query parameter was given (there are none)' },
    { 404: 'no checkpoint has been signed yet' },
  )
  async checkpoint(@Query() params: Record<string, unknown>): Promise<string> {
    noParams(params, []);
    const latest = await this.log.latestNote();
    if (!latest) throw new NotFoundException('no checkpoint has been signed yet');
    return latest.note;
  }

  @Get('key')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @ApiOperation({
    summary:
      "The log's verifier key (`<origin>+<hex key id>+<base64>`), and earlier keys after it, one per line",
  })
  @ApiResponse({
    status: 200,
    description: 'the verifier key(s)',
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  @ApiErrors({ 400: 'a query parameter was given (there are none)' })
  key(@Query() params: Record<string, unknown>): string {
    noParams(params, []);
    return this.log.options.verifiers.map((v) => v.vkey + '\n').join('');
  }

  @Get('proof/inclusion')
  @ApiOperation({
    summary:
      'RFC 9162 inclusion proof of record `id` (leaf `id − 1`) in the tree of `size` records (default: the latest checkpoint)',
  })
  @ApiQuery({ name: 'id', required: true, description: 'the record id' })
  @ApiQuery({ name: 'size', required: false, description: 'tree size (a checkpoint size)' })
  @ApiResponse({
    status: 200,
    description: 'the proof',
    schema: {
      type: 'object',
      required: ['index', 'size', 'leafHash', 'proof'],
      properties: {
        index: { type: 'integer' },
        size: { type: 'integer' },
        leafHash: base64Hash,
        proof: { type: 'array', items: base64Hash },
      },
    },
  })
  @ApiErrors(
    { 400: 'id or size is not a positive integer' },
    { 404: 'the record is not in a tree of that size, or the tree is not that large yet' },
  )
  async inclusion(@Query() params: Record<string, unknown>): Promise<InclusionProof> {
    noParams(params, ['id', 'size']);
    const id = parseId(params.id, 'id');
    const size = params.size === undefined ? undefined : parseId(params.size, 'size');
    if (size !== undefined && id > size)
      throw new ValidationFailedException([
        { path: 'id', message: 'must not be greater than size' },
      ]);
    return notFound(this.log.inclusionProof(id, size));
  }

  @Get('proof/consistency')
  @ApiOperation({
    summary: 'RFC 9162 consistency proof from the tree of `from` records to the tree of `to`',
  })
  @ApiQuery({ name: 'from', required: true, description: 'the earlier tree size' })
  @ApiQuery({ name: 'to', required: true, description: 'the later tree size' })
  @ApiResponse({
    status: 200,
    description: 'the proof',
    schema: {
      type: 'object',
      required: ['from', 'to', 'proof'],
      properties: {
        from: { type: 'integer' },
        to: { type: 'integer' },
        proof: { type: 'array', items: base64Hash },
      },
    },
  })
  @ApiErrors(
    { 400: 'from or to is not a positive integer, or from > to' },
    { 404: 'the tree is not that large yet' },
  )
  async consistency(@Query() params: Record<string, unknown>): Promise<ConsistencyProof> {
    noParams(params, ['from', 'to']);
    const from = parseId(params.from, 'from');
    const to = parseId(params.to, 'to');
    if (from > to)
      throw new ValidationFailedException([
        { path: 'from', message: 'must not be greater than to' },
      ]);
    return notFound(this.log.consistencyProof(from, to));
  }
}

function noParams(params: Record<string, unknown>, allowed: string[]): void {
  const errors = unknownParams(params, allowed);
  for (const name of allowed)
    if (Array.isArray(params[name])) errors.push({ path: name, message: 'must be given once' });
  if (errors.length) throw new ValidationFailedException(errors);
}

async function notFound<T>(result: Promise<T>): Promise<T> {
  try {
    return await result;
  } catch (error) {
    if (error instanceof ProofRangeError) throw new NotFoundException(error.message);
    throw error;
  }
}
