// The HTTP listener: OAuth callback, client metadata, JWKS and the login
// redirect. A small exact-path router; each capability contributes routes.
// Plaintext, or https with a certificate that is replaced without a restart.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { invalidSetting } from '../../config/load.ts';
import { UnavailableError } from '../../errors.ts';
import { ClientAddressResolver } from '../../network/client-address.ts';
import type { Logger } from '../../observability/logger.ts';
import type { ServerCertificate, TlsMaterial } from '../tls/server-certificate.ts';

export interface HttpRequest {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
  remoteAddress: string;
  /** The client's address: the peer's, or behind a trusted proxy the one x-forwarded-for names (client-address.ts). */
  clientAddress: string;
  /** The request body, read only for routes that declare maxBodyBytes. */
  body?: Buffer;
}

export interface HttpResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface Route {
  method: 'GET' | 'POST';
  /** An exact path, or a prefix ending in "/" that matches one more segment. */
  path: string;
  /** Read the body, up to this many bytes (a longer one is answered 413); other routes never read it. */
  maxBodyBytes?: number;
  handle(request: HttpRequest): Promise<HttpResponse> | HttpResponse;
}

/** A handler that answers the requests of the paths it claims itself (Connect, gRPC-Web), body and all. */
export interface MountedHandler {
  matches(pathname: string): boolean;
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
}

/** The body, or undefined once it grew past `limit` (the rest is not read). */
async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

// Pages never get framed, sniffed or cached; they load nothing from elsewhere.
const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

// Two years, the preload list's minimum; subdomains included, as a login origin should be.
const HSTS = 'max-age=63072000; includeSubDomains';

export interface HttpTransportOptions {
  /** The deployment is reached over https (production), so browsers must never use http for it. */
  hsts?: boolean;
  /** The setting an error to listen names. */
  setting?: 'httpAddress' | 'adminAddress';
  /** Serve https with this certificate (it follows reloads); absent = plaintext. */
  tls?: { certificate: ServerCertificate; requireClientCertificate: boolean };
  /** Resolves the client address behind trusted proxies; without it, the peer is the client. */
  addresses?: ClientAddressResolver;
}

const contextOf = (material: TlsMaterial) => ({ cert: material.cert, key: material.key, ca: material.clientCa });

export class HttpTransport {
  readonly #server: http.Server | https.Server;
  #stopFollowingCertificate: (() => void) | undefined;
  readonly #routes: Route[] = [];
  readonly #mounted: MountedHandler[] = [];
  // Requests whose answer has not been sent yet: shutdown waits for them.
  readonly #inFlight = new Set<http.ServerResponse>();
  #draining = false;
  #port = 0;

  private readonly address: { host: string; port: number };
  private readonly logger: Logger;

  readonly #extraHeaders: Record<string, string>;
  readonly #setting: 'httpAddress' | 'adminAddress';
  readonly #addresses: ClientAddressResolver;

  constructor(address: { host: string; port: number }, logger: Logger, options: HttpTransportOptions = {}) {
    this.address = address;
    this.logger = logger;
    this.#addresses = options.addresses ?? new ClientAddressResolver([]);
    this.#setting = options.setting ?? 'httpAddress';
    this.#extraHeaders = options.hsts ? { 'strict-transport-security': HSTS } : {};
    this.#server = this.#createServer(options.tls);
    this.#server.requestTimeout = 30_000;
    this.#server.headersTimeout = 10_000;
    this.#server.maxHeadersCount = 100;
  }

  #createServer(tls: HttpTransportOptions['tls']): http.Server | https.Server {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.#dispatch(req, res);
    if (!tls) return http.createServer(handler);
    const { certificate, requireClientCertificate } = tls;
    const server = https.createServer(
      {
        ...contextOf(certificate.current),
        requestCert: requireClientCertificate,
        rejectUnauthorized: requireClientCertificate,
        // As headersTimeout below: a client that stalls its handshake does not hold a socket for Node's default 2 minutes.
        handshakeTimeout: 10_000,
      },
      handler,
    );
    // New handshakes present the new certificate; open connections keep theirs.
    this.#stopFollowingCertificate = certificate.onChange((material) => server.setSecureContext(contextOf(material)));
    // A refused or broken handshake (no client certificate, a scanner) is the client's problem, not an error of ours.
    server.on('tlsClientError', (error: NodeJS.ErrnoException) =>
      this.logger.debug({ code: error.code, reason: error.message }, 'TLS handshake failed'),
    );
    return server;
  }

  add(...routes: Route[]): void {
    this.#routes.push(...routes);
  }

  mount(handler: MountedHandler): void {
    this.#mounted.push(handler);
  }

  get port(): number {
    return this.#port;
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) =>
        reject(invalidSetting(this.#setting, `cannot listen on ${this.address.host}:${this.address.port}: ${error.code ?? error.message}`));
      this.#server.once('error', onError);
      this.#server.listen(this.address.port, this.address.host, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
    return this.#port;
  }

  /**
   * Stops accepting connections, closes idle ones, and lets requests in
   * flight (an OAuth callback in the middle of its code exchange) finish
   * within graceMs; their connections close after the answer. Then the
   * rest is cut.
   */
  async drain(graceMs: number): Promise<void> {
    this.#draining = true;
    this.#stopFollowingCertificate?.();
    if (this.#inFlight.size > 0) this.logger.info({ requests: this.#inFlight.size, graceMs }, 'letting HTTP requests in flight finish');
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const over = new Promise<'over'>((resolve) => {
      timer = setTimeout(() => resolve('over'), graceMs);
    });
    const result = await Promise.race([closed, over]);
    clearTimeout(timer);
    if (result === 'over') {
      if (this.#inFlight.size > 0)
        this.logger.warn({ graceMs, requests: this.#inFlight.size }, 'grace period over; cutting remaining HTTP requests');
      this.#server.closeAllConnections();
      await closed;
    }
  }

  /** Closes at once, cutting whatever is left (after drain(), nothing is). */
  async close(): Promise<void> {
    this.#draining = true;
    this.#stopFollowingCertificate?.();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #match(method: string, pathname: string): Route | undefined {
    return this.#routes.find((route) => {
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) return false;
      if (route.path.endsWith('/') && route.path.length > 1) {
        const rest = pathname.slice(route.path.length);
        return pathname.startsWith(route.path) && rest.length > 0 && !rest.includes('/');
      }
      return route.path === pathname;
    });
  }

  async #dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    this.#inFlight.add(res);
    res.once('close', () => this.#inFlight.delete(res));
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://airlock.invalid');
    } catch {
      return this.#send(res, { status: 400, body: 'bad request' });
    }
    const mounted = this.#mounted.find((handler) => handler.matches(url.pathname));
    if (mounted) {
      // It logs its own calls; these headers hold for its answers too.
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('cache-control', 'no-store');
      for (const [name, value] of Object.entries(this.#extraHeaders)) res.setHeader(name, value);
      if (this.#draining) res.setHeader('connection', 'close');
      // A call that began before draining may have kept its connection alive: end it once answered.
      res.once('finish', () => {
        if (this.#draining) req.socket.end();
      });
      return mounted.handle(req, res);
    }
    const route = this.#match(req.method ?? 'GET', url.pathname);
    // Logged instead of the path: a prefix route's last segment may be a
    // capability (the login link's ref), so only the route's pattern is kept.
    const loggedPath = route?.path.endsWith('/') && route.path.length > 1 ? `${route.path}:ref` : url.pathname;
    let response: HttpResponse;
    try {
      let body: Buffer | undefined;
      if (route?.maxBodyBytes !== undefined) {
        try {
          body = await readBody(req, route.maxBodyBytes);
        } catch {
          // The client went away or sent a broken body: nothing to answer, nothing to report.
          this.logger.info({ method: req.method, path: loggedPath }, 'http request body not received');
          req.destroy();
          return;
        }
        if (body === undefined) {
          res.setHeader('connection', 'close');
          this.#send(res, {
            status: 413,
            headers: { 'content-type': 'text/plain; charset=utf-8' },
            body: `request body larger than ${route.maxBodyBytes} bytes`,
          });
          this.logger.info({ method: req.method, path: loggedPath, status: 413 }, 'http');
          return;
        }
      }
      response = route
        ? await route.handle({
            method: req.method ?? 'GET',
            url,
            headers: req.headers,
            remoteAddress: req.socket.remoteAddress ?? '',
            clientAddress: this.#addresses.resolve(req.socket.remoteAddress ?? '', req.headers['x-forwarded-for']),
            body,
          })
        : { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'not found' };
    } catch (error) {
      if (error instanceof UnavailableError) {
        // E.g. the database is down for a moment: a reload once it is back usually succeeds.
        this.logger.warn({ err: error, path: loggedPath }, 'HTTP request failed: a dependency is unavailable');
        response = {
          status: 503,
          headers: { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5' },
          body: `Temporarily unavailable (${error.message}). Reload this page in a few seconds.`,
        };
      } else {
        this.logger.error({ err: error, path: loggedPath }, 'unexpected error in HTTP handler');
        response = { status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'internal error' };
      }
    }
    this.#send(res, response);
    // The path only: query strings carry OAuth codes and state.
    this.logger.info(
      { method: req.method, path: loggedPath, status: response.status, durationMs: Number(process.hrtime.bigint() - started) / 1e6 },
      'http',
    );
  }

  #send(res: http.ServerResponse, response: HttpResponse): void {
    // While draining, a kept-alive connection would outlive the answer.
    const closing: Record<string, string> = this.#draining ? { connection: 'close' } : {};
    res.writeHead(response.status, { ...SECURITY_HEADERS, ...this.#extraHeaders, ...response.headers, ...closing });
    res.end(response.body);
  }
}
