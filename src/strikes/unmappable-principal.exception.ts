import { HttpStatus, ServiceUnavailableException } from '@nestjs/common';

/**
 * 503 for an authenticated request whose user strikeguard cannot identify: refusing is the only
 * way not to switch protection off in silence. The message names the fix; never a violation.
 */
export class UnmappablePrincipalException extends ServiceUnavailableException {
  readonly reason = 'principal_unmappable';

  constructor(override readonly cause: string) {
    super({
      statusCode: HttpStatus.SERVICE_UNAVAILABLE,
      error: 'Service Unavailable',
      message:
        `strikeguard cannot tell which user made this request (${cause}), so it is refused. ` +
        'Fix: let request.user carry id (or sub) as a string or an integer and sv as an integer, ' +
        'or pass StrikesModule.forRoot({ principalOf }); ' +
        'unmappablePrincipal: "anonymous" lets such requests through unprotected',
      reason: 'principal_unmappable',
    });
    this.name = this.constructor.name;
  }
}
