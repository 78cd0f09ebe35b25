import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC_KEY = 'isPublic';
/** Routes the global auth guard lets through without a token. */
export const Public = () => SetMetadata(IS_PUBLIC_KEY, true);
