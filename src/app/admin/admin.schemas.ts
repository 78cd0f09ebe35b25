import { ROLES } from '../users/user.entity.js';

export interface UnblockBody {
  reason: string;
}

export const unblockSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: {
    reason: { type: 'string', minLength: 1, maxLength: 1024, example: 'reviewed with the user' },
  },
} as const;

export interface RoleBody {
  role: 'user' | 'auditor' | 'admin';
}

export const roleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['role'],
  properties: { role: { enum: [...ROLES], example: 'auditor' } },
} as const;
