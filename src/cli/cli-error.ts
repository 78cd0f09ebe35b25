/** A problem the user can fix: printed without a stack trace, exit code 2. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}
