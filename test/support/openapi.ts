import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule.default;

type Document = Record<string, any>;

/** What @apidevtools/swagger-parser finds wrong with an OpenAPI document (empty: valid). */
export async function openApiErrors(document: Document): Promise<string[]> {
  try {
    await SwaggerParser.validate(structuredClone(document) as never);
    return [];
  } catch (error) {
    const details = (error as { details?: { message: string; instancePath?: string }[] }).details;
    if (details?.length) return details.map((d) => `${d.instancePath ?? ''} ${d.message}`);
    return [(error as Error).message];
  }
}

/** `METHOD /path` → the documented status codes, sorted. */
export function documentedStatuses(document: Document): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [path, operations] of Object.entries<Record<string, any>>(document.paths))
    for (const [method, operation] of Object.entries<any>(operations))
      out[`${method.toUpperCase()} ${path}`] = Object.keys(operation.responses ?? {}).sort();
  return out;
}

/**
 * Checks real response bodies against the schemas the document gives them (refs resolved, JSON
 * Schema 2020-12 as OpenAPI 3.1 uses it): answers ajv's complaints, empty when the body fits.
 */
export async function responseChecker(document: Document) {
  const resolved = (await SwaggerParser.dereference(
    structuredClone(document) as never,
  )) as Document;
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  return (method: string, path: string, status: number, body: unknown): string[] => {
    const response = resolved.paths[path]?.[method.toLowerCase()]?.responses?.[String(status)];
    if (!response) return [`${method} ${path} does not document ${status}`];
    const media = response.content?.['application/json'] ?? response.content?.['text/plain'];
    if (!media) return body === undefined ? [] : [`${method} ${path} ${status} documents no body`];
    const validate = ajv.compile(media.schema);
    return validate(body)
      ? []
      : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
  };
}
