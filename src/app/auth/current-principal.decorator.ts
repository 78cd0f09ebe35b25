import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { type Principal } from './principal.js';

/** The authenticated caller, as set by the JWT guard. */
export const CurrentPrincipal = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): Principal => ctx.switchToHttp().getRequest().user,
);
