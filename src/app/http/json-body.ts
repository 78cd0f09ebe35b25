import { type IncomingMessage } from 'node:http';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { errorBody } from './all-exceptions.filter.js';

/** Largest JSON body accepted by default; routes that need more are listed in `overrides`. */
export const DEFAULT_BODY_LIMIT = 100 * 1024;

export interface BodyLimitOverride {
  method: string;
  path: string;
  limit: number;
}

/**
 * JSON body parsing with a size limit per route, and errors in the service's JSON shape: 413 for
 * an oversized body, 400 for malformed JSON, 415 for a body that is not JSON at all. The body's
 * bytes are kept as `request.rawBody`.
 */
export function jsonBody(
  overrides: BodyLimitOverride[] = [],
): (RequestHandler | ErrorRequestHandler)[] {
  // The bytes parsed stay on the request (as Nest's `rawBody: true` leaves them): the audit API
  // checks in them what JSON.parse loses (repeated member names, text not in UTF-8).
  const verify = (req: IncomingMessage, _res: unknown, buf: Buffer) => {
    (req as IncomingMessage & { rawBody?: Buffer }).rawBody = buf;
  };
  const defaultParser = express.json({ limit: DEFAULT_BODY_LIMIT, strict: true, verify });
  const parsers = overrides.map((o) => ({
    ...o,
    parser: express.json({ limit: o.limit, strict: true, verify }),
  }));

  const parse: RequestHandler = (req, res, next) => {
    const hasBody =
      Number(req.headers['content-length'] ?? 0) > 0 ||
      req.headers['transfer-encoding'] !== undefined;
    if (hasBody && !req.is('application/json') && !req.is('application/*+json')) {
      res
        .status(415)
        .json(errorBody(415, 'request body must be JSON (Content-Type: application/json)'));
      return;
    }
    const override = parsers.find((p) => p.method === req.method && p.path === req.path);
    (override?.parser ?? defaultParser)(req, res, next);
  };

  const onError: ErrorRequestHandler = (error, req, res, next) => {
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') {
      const limit = (error as { limit?: number }).limit ?? DEFAULT_BODY_LIMIT;
      res
        .status(413)
        .json(errorBody(413, `request body exceeds the ${formatBytes(limit)} limit of this route`));
    } else if (type === 'entity.parse.failed') {
      res.status(400).json(errorBody(400, 'request body is not valid JSON'));
    } else if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
      res.status(415).json(errorBody(415, 'request body encoding or charset is not supported'));
    } else if (type === 'request.aborted' || type === 'request.size.invalid') {
      res.status(400).json(errorBody(400, 'request body was incomplete'));
    } else {
      next(error);
    }
  };

  return [parse, onError];
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${n / (1024 * 1024)} MiB` : `${Math.round(n / 1024)} kB`;
}
