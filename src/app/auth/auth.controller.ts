import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { type Credentials, credentialsSchema, loginSchema } from './auth.schemas.js';
import { AuthService } from './auth.service.js';
import { CurrentPrincipal } from './current-principal.decorator.js';
import { type Principal } from './principal.js';
import { Protected } from './protected.decorator.js';
import { SchemaValidationPipe } from '../../index.js';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('register')
  @ApiOperation({ summary: 'Create a user account' })
  @ApiBody({ schema: credentialsSchema as object })
  @ApiResponse({ status: 201, description: '`{id, username}`' })
  @ApiResponse({ status: 400, description: 'invalid fields, each listed in `errors`' })
  @ApiResponse({ status: 409, description: 'username taken' })
  register(@Body(new SchemaValidationPipe<Credentials>(credentialsSchema)) body: Credentials) {
    return this.auth.register(body.username, body.password);
  }

  @Post('logout')
  @HttpCode(204)
  @Protected()
  @ApiOperation({
    summary: "End all of the caller's sessions: every token issued before is refused",
  })
  async logout(@CurrentPrincipal() principal: Principal): Promise<void> {
    await this.auth.logout(principal.id);
  }

  @Post('login')
  @HttpCode(200)
  @ApiOperation({ summary: 'Exchange credentials for a bearer token' })
  @ApiBody({ schema: loginSchema as object })
  @ApiResponse({ status: 200, description: '`{accessToken, expiresIn}` (seconds)' })
  @ApiResponse({ status: 401, description: 'invalid username or password' })
  login(@Body(new SchemaValidationPipe<Credentials>(loginSchema)) body: Credentials) {
    return this.auth.login(body.username, body.password);
  }
}
