/**
 * An OpenAPI 3.1 document (what the REST modules describe themselves in) rewritten for a host
 * whose document stays on 3.0: `type: [T, "null"]` becomes `type: T, nullable: true`, several
 * types become `anyOf`, `const` becomes a one-value `enum`, and `$schema` is dropped. The forms
 * strikeguard uses are covered; other 3.1-only keywords are left as they are. Returns a copy.
 */
export function toOpenApi30<T extends object>(document: T): T {
  const copy = structuredClone(document) as T & { openapi?: string };
  copy.openapi = '3.0.3';
  return rewrite(copy) as T;
}

function rewrite(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewrite);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema') continue;
    out[key] = rewrite(value);
  }
  // Only schema objects have an array `type` or a `const` (security schemes' `type` is a string).
  if ('const' in out && !('enum' in out)) {
    out.enum = [out.const];
    delete out.const;
  }
  if (Array.isArray(out.type)) {
    const types = out.type as string[];
    const nonNull = types.filter((t) => t !== 'null');
    delete out.type;
    if (nonNull.length !== types.length) out.nullable = true;
    if (nonNull.length === 1) out.type = nonNull[0];
    else if (nonNull.length > 1) out.anyOf = nonNull.map((type) => ({ type }));
  }
  return out;
}
