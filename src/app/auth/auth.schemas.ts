import { PASSWORD_MAX, PASSWORD_MIN, USERNAME_PATTERN } from '../config/app-config.js';

export interface Credentials {
  username: string;
  password: string;
}

/** Body of register and login: validated by ajv and published as-is in the OpenAPI document. */
export const credentialsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['username', 'password'],
  properties: {
    username: {
      type: 'string',
      pattern: USERNAME_PATTERN,
      description: '3-64 characters of A-Z, a-z, 0-9, ".", "_" or "-"',
      example: 'alice',
    },
    password: {
      type: 'string',
      minLength: PASSWORD_MIN,
      maxLength: PASSWORD_MAX,
      example: 'correct-horse-battery',
    },
  },
} as const;

/** Login accepts any strings: a rule change must not lock out, nor reveal, existing accounts. */
export const loginSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['username', 'password'],
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 256 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const;
