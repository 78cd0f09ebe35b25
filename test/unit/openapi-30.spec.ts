import { toOpenApi30 } from '../../src/rest/openapi-30.js';

describe('toOpenApi30: a 3.1 document for a host that stays on OpenAPI 3.0', () => {
  const document = {
    openapi: '3.1.0',
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Thing: {
          $schema: 'http://json-schema.org/draft-07/schema#',
          type: 'object',
          properties: {
            note: { type: ['string', 'null'], maxLength: 10 },
            ttl: { type: ['integer', 'string'], description: 'seconds or 90d' },
            either: { type: ['integer', 'string', 'null'] },
            fixed: { const: 'ok' },
            nested: { type: 'array', items: { type: ['object', 'null'] } },
            type: { type: 'string' },
          },
        },
      },
    },
  };

  it('rewrites type arrays, const and $schema; leaves the rest as it was', () => {
    const out = toOpenApi30(document) as any;
    expect(out.openapi).toBe('3.0.3');
    expect(out.components.securitySchemes).toEqual(document.components.securitySchemes);
    const thing = out.components.schemas.Thing;
    expect(thing.$schema).toBeUndefined();
    expect(thing.properties).toEqual({
      note: { type: 'string', nullable: true, maxLength: 10 },
      ttl: { anyOf: [{ type: 'integer' }, { type: 'string' }], description: 'seconds or 90d' },
      either: { anyOf: [{ type: 'integer' }, { type: 'string' }], nullable: true },
      fixed: { enum: ['ok'] },
      nested: { type: 'array', items: { type: 'object', nullable: true } },
      type: { type: 'string' },
    });
  });

  it('answers a copy: the 3.1 document is untouched', () => {
    const before = structuredClone(document);
    toOpenApi30(document);
    expect(document).toEqual(before);
  });
});
