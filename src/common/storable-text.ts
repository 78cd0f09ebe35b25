/**
 * The noncharacters, as the body of a regular-expression class (u flag): U+FDD0-U+FDEF and the
 * last two code points of every plane (U+FFFE, U+FFFF, U+1FFFE ... U+10FFFF). I-JSON (RFC 7493),
 * which RFC 8785 canonicalisation requires, excludes them, as it excludes unpaired surrogates.
 */
export const NONCHARACTER_CLASS =
  '\\uFDD0-\\uFDEF\\uFFFE\\uFFFF' +
  Array.from({ length: 16 }, (_, i) => {
    const plane = (i + 1).toString(16).toUpperCase();
    return `\\u{${plane}FFFE}\\u{${plane}FFFF}`;
  }).join('');

const NONCHARACTER = new RegExp(`[${NONCHARACTER_CLASS}]`, 'u');
const NONCHARACTERS = new RegExp(`[${NONCHARACTER_CLASS}]`, 'gu');

/**
 * Text from a request or an exception made fit for a record: NUL, unpaired surrogates and
 * noncharacters (which the record format rejects) become U+FFFD, and it is cut to `max`
 * characters. For what the module records on its own initiative; what a client submits is
 * validated and rejected instead.
 */
export function storableText(text: string, max: number): string {
  const clean = cleanText(String(text));
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean;
}

/** `text` with every character the record format rejects replaced by U+FFFD (never longer). */
export function cleanText(text: string): string {
  if (isStorableText(text)) return text;
  return text.replaceAll('\u0000', '\uFFFD').toWellFormed().replace(NONCHARACTERS, '\uFFFD');
}

/** True when the record format can hold `text` as it is: no NUL, unpaired surrogate or noncharacter. */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && text.isWellFormed() && !NONCHARACTER.test(text);
}

/** Why the record format cannot hold `text`, or null when it can. */
export function unstorableReason(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain a NUL character';
  if (!text.isWellFormed()) return 'must be well-formed Unicode (no lone surrogates)';
  if (NONCHARACTER.test(text))
    return 'must not contain Unicode noncharacters (U+FFFE, U+FFFF, ...)';
  return null;
}
