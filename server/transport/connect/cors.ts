// CORS for the Connect and gRPC-Web routes: only origins on the allowlist
// (settings.corsOrigins; empty by default, so no cross-origin access) get
// Access-Control-Allow-Origin. The header lists are Connect's own, plus
// authorization for the bearer. Credentials (cookies) are never allowed:
// the bearer travels in a header the page sets.
import type http from 'node:http';
import { cors } from '@connectrpc/connect';

const ALLOWED_HEADERS = [...cors.allowedHeaders, 'Authorization'].join(', ');
const EXPOSED_HEADERS = [...cors.exposedHeaders].join(', ');
const ALLOWED_METHODS = [...cors.allowedMethods].join(', ');
// Browsers cap this (Chromium at 2 h); a day lets the others cache the preflight.
const MAX_AGE_SECONDS = '86400';

export class CorsPolicy {
  readonly #origins: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    this.#origins = new Set(origins);
  }

  /**
   * Sets the CORS headers for this request. Returns true when it was a
   * preflight, which is answered here (204; without allow headers for an
   * origin not on the list, so the browser refuses the call).
   */
  apply(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const origin = req.headers.origin;
    // The answer depends on the origin: caches must not share it across origins.
    res.setHeader('vary', 'Origin');
    const allowed = origin !== undefined && this.#origins.has(origin);
    if (allowed) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-expose-headers', EXPOSED_HEADERS);
    }
    if (req.method !== 'OPTIONS') return false;
    if (allowed) {
      res.setHeader('access-control-allow-methods', ALLOWED_METHODS);
      res.setHeader('access-control-allow-headers', ALLOWED_HEADERS);
      res.setHeader('access-control-max-age', MAX_AGE_SECONDS);
    }
    res.writeHead(204, { 'content-length': '0' });
    res.end();
    return true;
  }
}
