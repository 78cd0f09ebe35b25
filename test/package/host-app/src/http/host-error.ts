/** An error of the host's domain, not an HttpException: the host's filter renders it. */
export class HostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostError';
  }
}
