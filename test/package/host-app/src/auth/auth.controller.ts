import {
  BadRequestException,
  Body,
  Controller,
  HttpCode,
  HttpStatus,
  Post,
  Req,
} from '@nestjs/common';
import { type Request } from 'express';
import { AuthService } from './auth.service.js';
import { Public } from './public.decorator.js';

interface Credentials {
  username?: unknown;
  password?: unknown;
}

function credentials(body: Credentials | undefined): { username: string; password: string } {
  const { username, password } = body ?? {};
  if (typeof username !== 'string' || !/^[a-z0-9_.-]{3,64}$/i.test(username)) {
    throw new BadRequestException('username: 3-64 letters, digits, _ . -');
  }
  if (typeof password !== 'string' || password.length < 8) {
    throw new BadRequestException('password: at least 8 characters');
  }
  return { username, password };
}

@Controller('auth')
export class AuthController {
  constructor(private readonly authService: AuthService) {}

  @Public()
  @Post('register')
  register(@Body() body: Credentials) {
    const { username, password } = credentials(body);
    return this.authService.register(username, password);
  }

  @Public()
  @HttpCode(HttpStatus.OK)
  @Post('login')
  signIn(@Req() request: Request, @Body() body: Credentials) {
    const { username, password } = credentials(body);
    return this.authService.signIn(request, username, password);
  }
}
