import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';
import { type JSONSchemaType, type ValidateFunction } from 'ajv';
import { ajv, type FieldError, toFieldErrors } from './field-errors.js';

/** A 400 that lists every invalid field; the filter renders it as `{..., errors}`. */
export class ValidationFailedException extends BadRequestException {
  constructor(readonly errors: FieldError[]) {
    super({
      statusCode: 400,
      error: 'Bad Request',
      message: `request validation failed: ${errors.length} problem(s)`,
      errors,
    });
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
