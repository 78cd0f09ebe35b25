/**
 * Text from a request or an exception made fit for a record: NUL and unpaired surrogates (which
 * the record format rejects) become U+FFFD, and it is cut to `max` characters. For what the module
 * records on its own initiative; what a client submits is validated and rejected instead.
 */
export function storableText(text: string, max: number): string {
  const clean = cleanText(String(text));
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean;
}

/** `text` with every character the record format rejects replaced by U+FFFD (same length). */
export function cleanText(text: string): string {
  return isStorableText(text) ? text : text.replaceAll('\u0000', '\uFFFD').toWellFormed();
}

/** True when the record format can hold `text` as it is (no NUL, no unpaired surrogate). */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && text.isWellFormed();
}
