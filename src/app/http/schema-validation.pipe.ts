import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';
import { Ajv, type ErrorObject, type JSONSchemaType, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: under ESM its function sits on `default`.
const addFormats = addFormatsModule.default;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
addFormats(ajv);
ajv.addKeyword('example'); // OpenAPI annotation on the shared schemas, not a constraint

/** One invalid part of a request, as listed in a 400's `errors`. */
export interface FieldError {
  path: string;
  message: string;
}

/** A 400 that lists every invalid field; the filter renders it as `{..., errors}`. */
export class ValidationFailedException extends BadRequestException {
  constructor(readonly errors: FieldError[]) {
    super({ message: `request validation failed: ${errors.length} problem(s)`, errors });
  }
}

/** Validates a request body against a JSON Schema (the same schema the OpenAPI document shows). */
@Injectable()
export class SchemaValidationPipe<T> implements PipeTransform<unknown, T> {
  private readonly validate: ValidateFunction<T>;

  constructor(schema: JSONSchemaType<T> | object) {
    this.validate = ajv.compile<T>(schema);
  }

  transform(value: unknown): T {
    if (
      value === undefined ||
      value === null ||
      typeof value !== 'object' ||
      Array.isArray(value)
    ) {
      throw new ValidationFailedException([
        {
          path: '',
          message: 'request body must be a JSON object (Content-Type: application/json)',
        },
      ]);
    }
    if (this.validate(value)) return value;
    throw new ValidationFailedException(toFieldErrors(this.validate.errors ?? []));
  }
}

/** Turns ajv's errors into `{path, message}` with the offending field in the path. */
export function toFieldErrors(errors: ErrorObject[]): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const error of errors) {
    const base = error.instancePath.replace(/^\//, '').replace(/\//g, '.');
    let path = base;
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'required') {
      path = join(base, String(error.params.missingProperty));
      message = 'is required';
    } else if (error.keyword === 'additionalProperties') {
      path = join(base, String(error.params.additionalProperty));
      message = 'is not an allowed field';
    } else if (error.keyword === 'pattern' && error.parentSchema?.description) {
      message = `must be ${error.parentSchema.description}`;
    }
    const key = `${path}\u0000${message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push({ path, message });
    }
  }
  return out;
}

function join(base: string, key: string): string {
  return base ? `${base}.${key}` : key;
}
