import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: under ESM its function sits on `default`.
const addFormats = addFormatsModule.default;

/** The one JSON Schema validator (all errors, strict schemas, `description` used in messages). */
export const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
addFormats(ajv);
ajv.addKeyword('example'); // OpenAPI annotation on shared schemas, not a constraint

/** One invalid part of a request: where, and what is wrong with it. */
export interface FieldError {
  path: string;
  message: string;
}

/** Turns ajv's errors into `{path, message}`, the offending field in the path, under `prefix`. */
export function toFieldErrors(errors: ErrorObject[], prefix = ''): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const error of errors) {
    const base = error.instancePath
      .split('/')
      .slice(1)
      .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce(join, prefix);
    let path = base;
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'required') {
      path = join(base, String(error.params.missingProperty));
      message = 'is required';
    } else if (error.keyword === 'additionalProperties') {
      path = join(base, String(error.params.additionalProperty));
      message = 'is not an allowed field';
    } else if (error.keyword === 'enum') {
      message = `must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`;
    } else if (error.keyword === 'pattern' && error.parentSchema?.description) {
      message = `must be ${error.parentSchema.description}`;
    } else if (error.keyword === 'format') {
      message = `must be a valid ${error.params.format}`;
    }
    const key = `${path}\u0000${message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push({ path, message });
    }
  }
  return out;
}

/** `a` + `b` as a dotted path; array indexes as `[n]`. */
export function join(base: string, key: string): string {
  if (!key) return base;
  if (/^\d+$/.test(key)) return `${base}[${key}]`;
  if (!base) return key;
  return key.startsWith('[') ? `${base}${key}` : `${base}.${key}`;
}
