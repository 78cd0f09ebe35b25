/**
 * Text from a request or an exception made fit for a record: NUL and unpaired surrogates (which
 * the record format rejects) become U+FFFD, and it is cut to `max` characters. For what the module
 * records on its own initiative; what a client submits is validated and rejected instead.
 */
export function storableText(text: string, max: number): string {
  const clean = String(text).replaceAll('\u0000', '\uFFFD').toWellFormed();
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean;
}
