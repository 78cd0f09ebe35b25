/**
 * OpenAPI annotations for the REST modules when the host has `@nestjs/swagger` (an optional peer
 * dependency): its document then describes these routes like the host's own. Without it they are
 * no-ops, and the library does not pull it in.
 */
type Swagger = typeof import('@nestjs/swagger');

const swagger: Swagger | null = await import('@nestjs/swagger').catch(() => null);

const none = (() => () => undefined) as unknown as (
  ...args: unknown[]
) => ClassDecorator & MethodDecorator & PropertyDecorator;

export const ApiTags: Swagger['ApiTags'] = swagger?.ApiTags ?? none;
export const ApiOperation: Swagger['ApiOperation'] = swagger?.ApiOperation ?? none;
export const ApiQuery: Swagger['ApiQuery'] = swagger?.ApiQuery ?? none;
export const ApiBody: Swagger['ApiBody'] = swagger?.ApiBody ?? none;
export const ApiParam: Swagger['ApiParam'] = swagger?.ApiParam ?? none;
export const ApiResponse: Swagger['ApiResponse'] = swagger?.ApiResponse ?? none;
export const ApiBearerAuth: Swagger['ApiBearerAuth'] = swagger?.ApiBearerAuth ?? none;
export const ApiProperty: Swagger['ApiProperty'] = swagger?.ApiProperty ?? none;
export const ApiPropertyOptional: Swagger['ApiPropertyOptional'] =
  swagger?.ApiPropertyOptional ?? none;
