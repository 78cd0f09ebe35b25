import { type NestExpressApplication } from '@nestjs/platform-express';
import { type RequestHandler } from 'express';

/**
 * What the Swagger UI page at /docs needs, checked in Chromium (test/integration/
 * security-headers.spec.ts: every operation renders, no CSP violation; by hand, without
 * 'unsafe-inline' styles or data: images it reports violations): its own scripts and styles (an
 * inline <style> block and style attributes), data: images (icons in its CSS), and fetches to this
 * origin for "Try it out". No inline script, no eval.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Security headers on every response of the service — routes, 404s, errors, body-parser
 * refusals: call before any other middleware. Nest's helmet-style set (nosniff, HSTS, COOP, CORP,
 * no X-Powered-By, …) with a strict CSP, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`,
 * and `Cache-Control: no-store` (tokens, audit and admin data, errors; the static files of the
 * Swagger UI too, as serve-static keeps a header already set). `docsPath` gets the UI's CSP.
 */
export function useSecurityHeaders(app: NestExpressApplication, docsPath: string | null): void {
  app.useSecurityHeaders({
    // The API answers JSON only: it loads nothing, and nothing may frame it.
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    },
    xFrameOptions: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  });
  app.use(noStore);
  if (docsPath) app.use(docsPath, docsCsp);
}

const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store');
  next();
};

const docsCsp: RequestHandler = (_req, res, next) => {
  res.setHeader('Content-Security-Policy', DOCS_CSP);
  next();
};
