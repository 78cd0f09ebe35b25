import { ROLES } from '../users/user.entity.js';

export interface RoleBody {
  role: 'user' | 'auditor' | 'admin';
}

export const roleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['role'],
  properties: { role: { enum: [...ROLES], example: 'auditor' } },
} as const;
