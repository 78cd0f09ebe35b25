/** The signing secret: the sample hard-codes it; a real host reads it from its configuration. */
export const jwtConstants = {
  secret: process.env.JWT_SECRET ?? 'DO NOT USE THIS VALUE. INSTEAD, CREATE A COMPLEX SECRET.',
};
