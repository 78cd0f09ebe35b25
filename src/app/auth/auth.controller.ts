import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { type Request } from 'express';
import { ApiBody, ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { type Credentials, credentialsSchema, loginSchema } from './auth.schemas.js';
import { AuthService } from './auth.service.js';
import { CurrentPrincipal } from './current-principal.decorator.js';
import { type Principal } from './principal.js';
import { Protected } from './protected.decorator.js';
import { SchemaValidationPipe } from '../../index.js';
import { ApiErrors } from '../../rest/index.js';
import { accessTokenSchema, registeredSchema } from '../openapi/response-schemas.js';

/** What a JSON body can be refused for before the handler runs (see http/json-body.ts). */
const BODY_ERRORS = [
  { 413: 'body over 100 kB' },
  { 415: 'body is not JSON (Content-Type: application/json)' },
] as const;

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('register')
  @ApiOperation({ summary: 'Create a user account' })
  @ApiBody({ schema: credentialsSchema as object })
  @ApiResponse({ status: 201, description: 'the new account', schema: registeredSchema })
  @ApiErrors(
    { 400: 'invalid fields, each listed in `errors`, or a body that is not valid JSON' },
    { 409: 'username taken (case-insensitive)' },
    ...BODY_ERRORS,
    503,
  )
  register(@Body(new SchemaValidationPipe<Credentials>(credentialsSchema)) body: Credentials) {
    return this.auth.register(body.username, body.password);
  }

  @Post('logout')
  @HttpCode(204)
  @Protected()
  @ApiOperation({
    summary: "End all of the caller's sessions: every token issued before is refused",
  })
  @ApiResponse({ status: 204, description: 'every session ended' })
  async logout(@CurrentPrincipal() principal: Principal): Promise<void> {
    await this.auth.logout(principal.id);
  }

  @Post('login')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Exchange credentials for a bearer token',
    description:
      'Throttled before the password is checked. A success also returns a device token ' +
      '(`deviceToken`, and the `sg_device` cookie): presented on later logins (header ' +
      '`X-Device-Token` or the cookie) it counts in its own lane, so attacks on the account ' +
      'from elsewhere never lock its owner out.',
  })
  @ApiHeader({
    name: 'X-Device-Token',
    required: false,
    description: 'the device token of an earlier successful login on this account',
  })
  @ApiBody({ schema: loginSchema as object })
  @ApiResponse({ status: 200, description: 'a bearer token', schema: accessTokenSchema })
  @ApiErrors(
    { 400: 'invalid fields, each listed in `errors`, or a body that is not valid JSON' },
    { 401: 'invalid username or password' },
    { 403: '`reason: "account_blocked"`, only after a correct password' },
    { 429: 'too many login attempts (the same body for every account), with `Retry-After`' },
    ...BODY_ERRORS,
    503,
  )
  login(
    @Req() request: Request,
    @Body(new SchemaValidationPipe<Credentials>(loginSchema)) body: Credentials,
  ) {
    return this.auth.login(request, body.username, body.password);
  }
}
