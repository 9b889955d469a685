// Every setting of the server, declared once: its environment variable, its
// flag, its default and how it is validated. `--help`, the README table and
// the loader all read this list.
import ipaddr from 'ipaddr.js';
import ms from 'ms';
import { z } from 'zod';

export type Mode = 'development' | 'production';

const duration = z.string().transform((text, ctx) => {
  const value = /^\d+$/.test(text) ? Number(text) : ms(text as ms.StringValue);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (e.g. 500ms, 15s, 10m, 30d)` });
    return z.NEVER;
  }
  return value;
});

const positiveInt = z.string().transform((text, ctx) => {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value <= 0) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a positive whole number` });
    return z.NEVER;
  }
  return value;
});

const wholeNumber = z.string().transform((text, ctx) => {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a whole number (0 or more)` });
    return z.NEVER;
  }
  return value;
});

const boolean = z.string().transform((text, ctx) => {
  const lower = text.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(lower)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(lower)) return false;
  ctx.addIssue({ code: 'custom', message: `"${text}" is not a boolean (true or false)` });
  return z.NEVER;
});

const hostPort = z.string().transform((text, ctx) => {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not HOST:PORT (e.g. 127.0.0.1:50051; port 0 picks a free one)` });
    return z.NEVER;
  }
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
});

const url = (protocols: string[]) =>
  z.string().transform((text, ctx) => {
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a URL` });
      return z.NEVER;
    }
    if (!protocols.includes(parsed.protocol)) {
      ctx.addIssue({ code: 'custom', message: `"${text}" must use ${protocols.join(' or ')}` });
      return z.NEVER;
    }
    return parsed.href.replace(/\/$/, '');
  });

const optional = <T extends z.ZodType>(schema: T) =>
  z.string().transform((text, ctx): z.output<T> | undefined => {
    if (text === '') return undefined;
    const result = schema.safeParse(text);
    if (!result.success) {
      for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', message: issue.message });
      return z.NEVER;
    }
    return result.data;
  });

// Exact origins as a browser sends them in the Origin header; "*" is refused,
// since a bearer-carrying API must name who may call it.
const originList = z.string().transform((text, ctx) => {
  const origins: string[] = [];
  for (const item of text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(item);
    } catch {
      parsed = undefined;
    }
    // Computed, not URL.origin: that is "null" for schemes like tauri://localhost.
    const origin = parsed?.host ? `${parsed.protocol}//${parsed.host}` : undefined;
    if (!origin || origin !== item.replace(/\/$/, '').toLowerCase()) {
      const hint = item === '*' ? ' (a wildcard is not allowed: list each origin)' : ' (expected scheme://host[:port], no path)';
      ctx.addIssue({ code: 'custom', message: `"${item}" is not an origin${hint}` });
      return z.NEVER;
    }
    origins.push(origin);
  }
  return origins;
});

const cidrList = z.string().transform((text, ctx) => {
  const items = text.split(/[\s,]+/).filter(Boolean);
  for (const item of items) {
    const v6 = item.includes(':');
    const valid = item.includes('/')
      ? v6
        ? ipaddr.IPv6.isValidCIDR(item)
        : ipaddr.IPv4.isValidCIDRFourPartDecimal(item)
      : v6
        ? ipaddr.IPv6.isValid(item)
        : ipaddr.IPv4.isValidFourPartDecimal(item);
    if (!valid) {
      ctx.addIssue({ code: 'custom', message: `"${item}" is not an IP address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)` });
      return z.NEVER;
    }
  }
  return items;
});

const text = z.string();

/** The listeners TLS settings can name. */
export type ListenerName = 'grpc' | 'http' | 'admin';
const LISTENERS: ListenerName[] = ['grpc', 'http', 'admin'];
const listenerList = z.string().transform((text, ctx) => {
  const names = text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const unknown = names.filter((name) => !LISTENERS.includes(name as ListenerName));
  if (unknown.length > 0) {
    ctx.addIssue({ code: 'custom', message: `"${unknown.join(',')}" is not a listener (a comma-separated list of grpc, http, admin)` });
    return z.NEVER;
  }
  return new Set(names as ListenerName[]);
});
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

interface SettingSpec<S extends z.ZodType> {
  env: string;
  flag: string;
  default: string;
  description: string;
  schema: S;
  /** Secrets are never printed, not even in validation errors. */
  secret?: boolean;
}

const setting = <S extends z.ZodType>(spec: SettingSpec<S>) => spec;

export const SETTINGS = {
  mode: setting({
    env: 'AIRLOCK_MODE',
    flag: 'mode',
    default: 'development',
    schema: z.enum(['development', 'production']),
    description: 'development allows http, loopback/private addresses and the dev LiveKit keys; production refuses them',
  }),
  grpcAddress: setting({
    env: 'AIRLOCK_GRPC_ADDRESS',
    flag: 'grpc-address',
    default: '127.0.0.1:50051',
    schema: hostPort,
    description: 'gRPC listen address (HOST:PORT, port 0 = any free port)',
  }),
  httpAddress: setting({
    env: 'AIRLOCK_HTTP_ADDRESS',
    flag: 'http-address',
    default: '127.0.0.1:8080',
    schema: hostPort,
    description: 'HTTP listen address for the OAuth callback, client metadata, JWKS, and Connect / gRPC-Web for browsers',
  }),
  corsOrigins: setting({
    env: 'AIRLOCK_CORS_ORIGINS',
    flag: 'cors-origins',
    default: '',
    schema: originList,
    description:
      'comma-separated origins (scheme://host[:port]) whose pages may call Connect and gRPC-Web on the HTTP listener, e.g. a web frontend or tauri://localhost; empty = no cross-origin access',
  }),
  adminAddress: setting({
    env: 'AIRLOCK_ADMIN_ADDRESS',
    flag: 'admin-address',
    default: '',
    schema: optional(hostPort),
    description:
      'admin HTTP listen address serving Prometheus /metrics (HOST:PORT, e.g. 127.0.0.1:9464; keep it loopback or on a private network); empty = off',
  }),
  tlsCertFile: setting({
    env: 'AIRLOCK_TLS_CERT_FILE',
    flag: 'tls-cert-file',
    default: '',
    schema: text,
    description:
      'PEM certificate chain (leaf first) the listeners named in AIRLOCK_TLS_LISTENERS serve; with AIRLOCK_TLS_KEY_FILE; re-read on SIGHUP and every AIRLOCK_TLS_RELOAD_INTERVAL; empty = plaintext',
  }),
  tlsKeyFile: setting({
    env: 'AIRLOCK_TLS_KEY_FILE',
    flag: 'tls-key-file',
    default: '',
    schema: text,
    description: 'PEM private key of AIRLOCK_TLS_CERT_FILE',
  }),
  tlsListeners: setting({
    env: 'AIRLOCK_TLS_LISTENERS',
    flag: 'tls-listeners',
    default: 'grpc,http,admin',
    schema: listenerList,
    description: 'which listeners serve TLS when a certificate is set (comma-separated: grpc, http, admin); the others stay plaintext',
  }),
  tlsClientCaFile: setting({
    env: 'AIRLOCK_TLS_CLIENT_CA_FILE',
    flag: 'tls-client-ca-file',
    default: '',
    schema: text,
    description:
      'PEM CA certificate(s) for mTLS: on the listeners named in AIRLOCK_TLS_CLIENT_AUTH_LISTENERS, a client without a certificate signed by one is refused at the handshake; empty = no client certificates',
  }),
  tlsClientAuthListeners: setting({
    env: 'AIRLOCK_TLS_CLIENT_AUTH_LISTENERS',
    flag: 'tls-client-auth-listeners',
    default: 'grpc',
    schema: listenerList,
    description:
      "which TLS listeners require a client certificate when AIRLOCK_TLS_CLIENT_CA_FILE is set (http only behind a proxy that presents one: browsers, LiveKit's webhooks and kubelet probes do not)",
  }),
  tlsReloadInterval: setting({
    env: 'AIRLOCK_TLS_RELOAD_INTERVAL',
    flag: 'tls-reload-interval',
    default: '1h',
    schema: duration,
    description:
      'how often the TLS files are checked for a new certificate (renewals written by cert-manager or certbot), besides SIGHUP; a bad pair keeps the one in force (0 = SIGHUP only)',
  }),
  tlsTerminatedByProxy: setting({
    env: 'AIRLOCK_TLS_TERMINATED_BY_PROXY',
    flag: 'tls-terminated-by-proxy',
    default: 'false',
    schema: boolean,
    description:
      'a proxy or load balancer in front terminates TLS: production mode then accepts plaintext listeners on non-loopback addresses',
  }),
  publicUrl: setting({
    env: 'AIRLOCK_PUBLIC_URL',
    flag: 'public-url',
    default: '',
    schema: optional(url(['https:', 'http:'])),
    description:
      'public base URL of the HTTP listener; an https URL turns on the confidential OAuth client (default: http://127.0.0.1:<http port>)',
  }),
  dataDir: setting({
    env: 'AIRLOCK_DATA_DIR',
    flag: 'data-dir',
    default: './data',
    schema: text.min(1),
    description: 'directory of the embedded SQLite database and generated keys',
  }),
  masterKeyFile: setting({
    env: 'AIRLOCK_MASTER_KEY_FILE',
    flag: 'master-key-file',
    default: '',
    schema: text,
    description:
      'file of the master key that encrypts the secrets stored in the database (base64 32 bytes; several keys one a line: the first encrypts, all decrypt, for a rolling rotation); required in production unless AIRLOCK_MASTER_KEY is set; development generates <data dir>/master.key',
  }),
  masterKey: setting({
    env: 'AIRLOCK_MASTER_KEY',
    flag: 'master-key',
    default: '',
    schema: text,
    description: 'the master key itself, instead of a file (base64 32 bytes; several comma-separated: the first encrypts, all decrypt)',
    secret: true,
  }),
  databaseUrl: setting({
    env: 'AIRLOCK_DATABASE_URL',
    flag: 'database-url',
    default: '',
    schema: optional(url(['postgres:', 'postgresql:'])),
    description: 'PostgreSQL URL (postgres://...) for several replicas; empty = SQLite file in the data directory',
    secret: true,
  }),
  databasePoolSize: setting({
    env: 'AIRLOCK_DATABASE_POOL_SIZE',
    flag: 'database-pool-size',
    default: '10',
    schema: positiveInt,
    description: 'PostgreSQL connections per replica',
  }),
  databaseConnectTimeout: setting({
    env: 'AIRLOCK_DATABASE_CONNECT_TIMEOUT',
    flag: 'database-connect-timeout',
    default: '5s',
    schema: duration,
    description: 'longest wait for a PostgreSQL connection (opening one, or a free one from the pool) before the call fails UNAVAILABLE',
  }),
  databaseStatementTimeout: setting({
    env: 'AIRLOCK_DATABASE_STATEMENT_TIMEOUT',
    flag: 'database-statement-timeout',
    default: '10s',
    schema: duration,
    description: "PostgreSQL statement_timeout of the server's queries (0 = none; migrations are exempt)",
  }),
  databaseProbeInterval: setting({
    env: 'AIRLOCK_DATABASE_PROBE_INTERVAL',
    flag: 'database-probe-interval',
    default: '2s',
    schema: duration,
    description: 'how often PostgreSQL liveness is checked; health is NOT_SERVING while it fails',
  }),
  databaseProbeTimeout: setting({
    env: 'AIRLOCK_DATABASE_PROBE_TIMEOUT',
    flag: 'database-probe-timeout',
    default: '2s',
    schema: duration,
    description: 'a liveness check not answered within this time counts as a failure',
  }),
  databaseReconnectMaxDelay: setting({
    env: 'AIRLOCK_DATABASE_RECONNECT_MAX_DELAY',
    flag: 'database-reconnect-max-delay',
    default: '5s',
    schema: duration,
    description: 'cap of the exponential backoff between reconnections of the LISTEN connection (login events between replicas)',
  }),
  databaseLockTimeout: setting({
    env: 'AIRLOCK_DATABASE_LOCK_TIMEOUT',
    flag: 'database-lock-timeout',
    default: '10s',
    schema: duration,
    description: 'longest wait for the advisory lock that serialises upstream token refreshes of one account across replicas',
  }),
  databaseLockPoolSize: setting({
    env: 'AIRLOCK_DATABASE_LOCK_POOL_SIZE',
    flag: 'database-lock-pool-size',
    default: '4',
    schema: positiveInt,
    description: 'PostgreSQL connections per replica reserved for holding those locks (upstream refreshes at once)',
  }),
  databaseMigrateOnStart: setting({
    env: 'AIRLOCK_DATABASE_MIGRATE_ON_START',
    flag: 'database-migrate-on-start',
    default: 'true',
    schema: boolean,
    description: 'apply pending schema migrations at start; false = refuse to start until `npm run migrate` has run',
  }),
  logLevel: setting({
    env: 'AIRLOCK_LOG_LEVEL',
    flag: 'log-level',
    default: 'info',
    schema: logLevel,
    description: 'fatal, error, warn, info, debug, trace or silent',
  }),
  logFormat: setting({
    env: 'AIRLOCK_LOG_FORMAT',
    flag: 'log-format',
    default: 'auto',
    schema: z.enum(['auto', 'json', 'pretty']),
    description: 'json lines, pretty (human), or auto (pretty on a TTY)',
  }),
  logBufferBytes: setting({
    env: 'AIRLOCK_LOG_BUFFER_BYTES',
    flag: 'log-buffer-bytes',
    default: '16777216',
    schema: positiveInt,
    description:
      'JSON log lines waiting for a slow reader of standard output (written asynchronously, in batches); beyond this many bytes lines are dropped',
  }),
  shutdownGrace: setting({
    env: 'AIRLOCK_SHUTDOWN_GRACE',
    flag: 'shutdown-grace',
    default: '10s',
    schema: duration,
    description: 'how long in-flight calls may finish after SIGINT/SIGTERM before the process exits',
  }),
  trustedProxies: setting({
    env: 'AIRLOCK_TRUSTED_PROXIES',
    flag: 'trusted-proxies',
    default: '',
    schema: cidrList,
    description:
      'CIDRs of the proxies and load balancers in front of Airlock, comma-separated; only from these peers is x-forwarded-for (HTTP header, gRPC metadata) believed for the client address; empty = the direct peer is the client',
  }),
  maxMessageBytes: setting({
    env: 'AIRLOCK_MAX_MESSAGE_BYTES',
    flag: 'max-message-bytes',
    default: '65536',
    schema: positiveInt,
    description: 'largest request message accepted (gRPC, Connect and gRPC-Web)',
  }),
  maxMetadataBytes: setting({
    env: 'AIRLOCK_MAX_METADATA_BYTES',
    flag: 'max-metadata-bytes',
    default: '16384',
    // Above 64 KiB Node's HTTP/2 layer may close the connection before the limit could answer (metadata-limit-interceptor.ts).
    schema: positiveInt.refine((value) => value <= 65_536, 'at most 65536 (larger headers close the HTTP/2 connection first)'),
    description:
      'largest request metadata accepted (gRPC metadata, Connect and gRPC-Web request headers): all headers, keys and values (at most 65536); a call over it ends RESOURCE_EXHAUSTED, reason METADATA_TOO_LARGE',
  }),
  reflection: setting({
    env: 'AIRLOCK_REFLECTION',
    flag: 'reflection',
    default: 'true',
    schema: boolean,
    description: 'serve gRPC server reflection (grpcurl list/describe); a production deployment may turn it off',
  }),
  keepaliveTime: setting({
    env: 'AIRLOCK_KEEPALIVE_TIME',
    flag: 'keepalive-time',
    default: '60s',
    schema: duration,
    description: 'interval of server HTTP/2 keepalive pings on idle connections',
  }),
  keepaliveTimeout: setting({
    env: 'AIRLOCK_KEEPALIVE_TIMEOUT',
    flag: 'keepalive-timeout',
    default: '20s',
    schema: duration,
    description: 'how long a keepalive ping may go unanswered before the connection is closed',
  }),
  loginTtl: setting({
    env: 'AIRLOCK_LOGIN_TTL',
    flag: 'login-ttl',
    default: '10m',
    schema: duration,
    description: 'how long a started login waits for the user',
  }),
  heartbeatInterval: setting({
    env: 'AIRLOCK_HEARTBEAT_INTERVAL',
    flag: 'heartbeat-interval',
    default: '15s',
    schema: duration,
    description: 'interval of heartbeat events on AwaitLogin streams',
  }),
  callbackStreamWait: setting({
    env: 'AIRLOCK_CALLBACK_STREAM_WAIT',
    flag: 'callback-stream-wait',
    default: '250ms',
    schema: duration,
    description:
      "longest the OAuth callback waits for this replica's AwaitLogin streams to send the result before it answers the browser (so the app hears first)",
  }),
  loginRatePerMinute: setting({
    env: 'AIRLOCK_LOGIN_RATE_PER_MINUTE',
    flag: 'login-rate-per-minute',
    default: '30',
    schema: positiveInt,
    description:
      'InitiateLogin calls allowed per client network per minute (an IPv4 address, an IPv6 /64; behind a trusted proxy the forwarded address)',
  }),
  maxPendingLogins: setting({
    env: 'AIRLOCK_MAX_PENDING_LOGINS',
    flag: 'max-pending-logins',
    default: '10000',
    schema: positiveInt,
    description: 'logins waiting for a user at once, in total',
  }),
  clientLabelMaxLength: setting({
    env: 'AIRLOCK_CLIENT_LABEL_MAX_LENGTH',
    flag: 'client-label-max-length',
    default: '64',
    schema: positiveInt,
    description: "characters of InitiateLogin's client_label (longer is INVALID_ARGUMENT) and of the user-agent kept in its place",
  }),
  maxPendingLoginsPerNetwork: setting({
    env: 'AIRLOCK_MAX_PENDING_LOGINS_PER_NETWORK',
    flag: 'max-pending-logins-per-network',
    default: '100',
    schema: positiveInt,
    description:
      'logins waiting for a user at once that were started from one client network (an IPv4 address, an IPv6 /64; behind a trusted proxy the forwarded address), so one network cannot fill AIRLOCK_MAX_PENDING_LOGINS',
  }),
  maxStreamsPerLogin: setting({
    env: 'AIRLOCK_MAX_STREAMS_PER_LOGIN',
    flag: 'max-streams-per-login',
    default: '8',
    schema: positiveInt,
    description: 'concurrent AwaitLogin streams of one login',
  }),
  upstreamTimeout: setting({
    env: 'AIRLOCK_UPSTREAM_TIMEOUT',
    flag: 'upstream-timeout',
    default: '10s',
    schema: duration,
    description: 'deadline for a request to a PDS, authorization server, PLC directory or handle resolver',
  }),
  oauthRequestMaxAge: setting({
    env: 'AIRLOCK_OAUTH_REQUEST_MAX_AGE',
    flag: 'oauth-request-max-age',
    default: '4m',
    schema: duration,
    description:
      'a pushed authorization request older than this is made again when the login link is opened (PDSes keep one about 5 minutes)',
  }),
  maxParRenewals: setting({
    env: 'AIRLOCK_MAX_PAR_RENEWALS',
    flag: 'max-par-renewals',
    // 3: a stale first visit, a second browser or a link preview, and a reload; more is someone replaying the link.
    default: '3',
    schema: wholeNumber,
    description:
      "pushed authorization requests the login link may make per login after InitiateLogin's (a stale first visit, a second browser, a link preview); beyond them the link answers 429 and the login stays pending",
  }),
  appName: setting({
    env: 'AIRLOCK_APP_NAME',
    flag: 'app-name',
    default: 'Airlock',
    schema: text.min(1).max(100),
    description: 'the name of the app users sign in to, shown on the login confirmation page',
  }),
  loginConfirmation: setting({
    env: 'AIRLOCK_LOGIN_CONFIRMATION',
    flag: 'login-confirmation',
    default: 'cross-network',
    schema: z.enum(['always', 'cross-network', 'never']),
    description:
      "when the login link shows a confirmation page (app name, when and from which network the login started, its code) before the PDS: always, cross-network (only when the browser's network is not the app's: IPv4 address, IPv6 /64) or never",
  }),
  loginFormMaxBytes: setting({
    env: 'AIRLOCK_LOGIN_FORM_MAX_BYTES',
    flag: 'login-form-max-bytes',
    default: '4096',
    schema: positiveInt,
    description: 'largest body accepted from the login confirmation page (its POST to /login/<ref>)',
  }),
  oauthScope: setting({
    env: 'AIRLOCK_OAUTH_SCOPE',
    flag: 'oauth-scope',
    default: 'atproto',
    schema: text.min(1),
    description: "OAuth scope requested from the user's authorization server",
  }),
  oauthClientKeyFile: setting({
    env: 'AIRLOCK_OAUTH_CLIENT_KEY_FILE',
    flag: 'oauth-client-key-file',
    default: '',
    schema: text,
    description: 'ES256 private JWK of the confidential OAuth client (default: generated on first run and stored)',
  }),
  plcUrl: setting({
    env: 'AIRLOCK_PLC_URL',
    flag: 'plc-url',
    default: '',
    schema: optional(url(['https:', 'http:'])),
    description: 'PLC directory URL (default: https://plc.directory); development only when not the default',
  }),
  handleResolverUrl: setting({
    env: 'AIRLOCK_HANDLE_RESOLVER_URL',
    flag: 'handle-resolver-url',
    default: '',
    schema: optional(url(['https:', 'http:'])),
    description: 'URL of a service that resolves handles (com.atproto.identity.resolveHandle); empty = DNS and https well-known',
  }),
  allowHttp: setting({
    env: 'AIRLOCK_ALLOW_HTTP',
    flag: 'allow-http',
    default: 'false',
    schema: boolean,
    description: 'allow http:// and loopback/private addresses for PDS and authorization servers (development mode only)',
  }),
  accessTokenTtl: setting({
    env: 'AIRLOCK_ACCESS_TOKEN_TTL',
    flag: 'access-token-ttl',
    default: '15m',
    schema: duration,
    description: 'lifetime of an Airlock access token',
  }),
  tokenAudience: setting({
    env: 'AIRLOCK_TOKEN_AUDIENCE',
    flag: 'token-audience',
    default: 'airlock',
    schema: text.min(1),
    description: 'aud claim of Airlock access tokens',
  }),
  signingKeyFile: setting({
    env: 'AIRLOCK_SIGNING_KEY_FILE',
    flag: 'signing-key-file',
    default: '',
    schema: text,
    description: 'EdDSA or ES256 private JWK that signs access tokens (default: generated on first run and stored)',
  }),
  signingKeyRotation: setting({
    env: 'AIRLOCK_SIGNING_KEY_ROTATION',
    flag: 'signing-key-rotation',
    default: '30d',
    schema: duration,
    description:
      'age at which a generated access-token signing key is replaced (0 = never): the new key is published a reload interval (60s) plus the clock tolerance before it signs, the old one verifies until its tokens expired; one replica rotates for all',
  }),
  clockTolerance: setting({
    env: 'AIRLOCK_CLOCK_TOLERANCE',
    flag: 'clock-tolerance',
    default: '30s',
    schema: duration,
    description: 'allowed clock skew when checking exp and nbf of access tokens',
  }),
  sessionIdleTtl: setting({
    env: 'AIRLOCK_SESSION_IDLE_TTL',
    flag: 'session-idle-ttl',
    default: '30d',
    schema: duration,
    description: 'a session not refreshed for this long ends (sliding)',
  }),
  sessionMaxTtl: setting({
    env: 'AIRLOCK_SESSION_MAX_TTL',
    flag: 'session-max-ttl',
    default: '90d',
    schema: duration,
    description: 'a session ends this long after sign-in, however often it is refreshed',
  }),
  refreshReuseGrace: setting({
    env: 'AIRLOCK_REFRESH_REUSE_GRACE',
    flag: 'refresh-reuse-grace',
    default: '0',
    schema: duration,
    description: 'how long the previous refresh token still works after rotation, for a retried request (0 = off)',
  }),
  sessionRetention: setting({
    env: 'AIRLOCK_SESSION_RETENTION',
    flag: 'session-retention',
    default: '7d',
    schema: duration,
    description:
      'how long an ended (revoked or expired) session and its refresh tokens are kept before deletion; until then its tokens get the exact reason',
  }),
  auditRetention: setting({
    env: 'AIRLOCK_AUDIT_RETENTION',
    flag: 'audit-retention',
    default: '365d',
    schema: duration,
    description: 'how long audit log entries (logins, reuse, revocations, admin actions) are kept before deletion',
  }),
  revocationCacheTtl: setting({
    env: 'AIRLOCK_REVOCATION_CACHE_TTL',
    flag: 'revocation-cache-ttl',
    default: '5s',
    schema: duration,
    description: 'how long a replica trusts a cached "session still alive" answer; revocations on the same replica apply at once',
  }),
  revocationCacheSize: setting({
    env: 'AIRLOCK_REVOCATION_CACHE_SIZE',
    flag: 'revocation-cache-size',
    default: '10000',
    schema: positiveInt,
    description: 'sessions whose revocation status is cached per replica',
  }),
  verifiedTokenCacheSize: setting({
    env: 'AIRLOCK_VERIFIED_TOKEN_CACHE_SIZE',
    flag: 'verified-token-cache-size',
    default: '10000',
    schema: wholeNumber,
    description:
      'access tokens whose verified signature and claims are remembered per replica until they expire (0 = verify every call); the revocation check still runs on every call',
  }),
  channelsFile: setting({
    env: 'AIRLOCK_CHANNELS_FILE',
    flag: 'channels-file',
    default: '',
    schema: text,
    description: 'JSON channel catalog (default: one open channel, lobby)',
  }),
  livekitUrl: setting({
    env: 'AIRLOCK_LIVEKIT_URL',
    flag: 'livekit-url',
    default: 'ws://localhost:7880',
    schema: url(['ws:', 'wss:', 'http:', 'https:']),
    description: 'LiveKit server URL handed to clients',
  }),
  livekitApiKey: setting({
    env: 'AIRLOCK_LIVEKIT_API_KEY',
    flag: 'livekit-api-key',
    default: 'devkey',
    schema: text.min(1),
    description: "LiveKit API key (the default is livekit-server --dev's; refused in production)",
  }),
  livekitApiSecret: setting({
    env: 'AIRLOCK_LIVEKIT_API_SECRET',
    flag: 'livekit-api-secret',
    default: 'secret',
    schema: text.min(1),
    description: "LiveKit API secret (the default is livekit-server --dev's; refused in production)",
    secret: true,
  }),
  channelTokenTtl: setting({
    env: 'AIRLOCK_CHANNEL_TOKEN_TTL',
    flag: 'channel-token-ttl',
    default: '1m',
    schema: duration,
    description:
      "lifetime of a LiveKit token from GetChannelToken; it only gates joining (LiveKit refreshes connected participants' tokens)",
  }),
  channelTokenReuse: setting({
    env: 'AIRLOCK_CHANNEL_TOKEN_REUSE',
    flag: 'channel-token-reuse',
    default: '5s',
    schema: duration,
    description:
      'GetChannelToken answers a repeat call (same session, channel, grants) within this time with the token it minted then (capped at a quarter of AIRLOCK_CHANNEL_TOKEN_TTL; 0 mints every time)',
  }),
  channelTokenReuseEntries: setting({
    env: 'AIRLOCK_CHANNEL_TOKEN_REUSE_ENTRIES',
    flag: 'channel-token-reuse-entries',
    default: '10000',
    schema: positiveInt,
    description: 'most recently minted LiveKit tokens kept for reuse (least recently used dropped first)',
  }),
  livekitIdentity: setting({
    env: 'AIRLOCK_LIVEKIT_IDENTITY',
    flag: 'livekit-identity',
    default: 'did',
    schema: z.enum(['did', 'session']),
    description:
      'LiveKit identity: did (one device per user and room; a second join replaces the first) or session (<did>#<session suffix>, several devices)',
  }),
  livekitApiTimeout: setting({
    env: 'AIRLOCK_LIVEKIT_API_TIMEOUT',
    flag: 'livekit-api-timeout',
    default: '5s',
    schema: duration,
    description: "timeout of each call to LiveKit's server API (removing or downgrading a participant)",
  }),
  livekitWebhookMaxBytes: setting({
    env: 'AIRLOCK_LIVEKIT_WEBHOOK_MAX_BYTES',
    flag: 'livekit-webhook-max-bytes',
    default: '65536',
    schema: positiveInt,
    description: 'largest LiveKit webhook body accepted on /livekit/webhook',
  }),
  livekitTokenRequestMaxBytes: setting({
    env: 'AIRLOCK_LIVEKIT_TOKEN_REQUEST_MAX_BYTES',
    flag: 'livekit-token-request-max-bytes',
    default: '8192',
    schema: positiveInt,
    description: "largest request body accepted on /livekit/token (LiveKit's endpoint token format)",
  }),
  livekitWebhookMaxAge: setting({
    env: 'AIRLOCK_LIVEKIT_WEBHOOK_MAX_AGE',
    flag: 'livekit-webhook-max-age',
    default: '5m',
    schema: duration,
    description: 'a signed LiveKit webhook older than this is refused (a replayed participant_left must not hide a participant)',
  }),
  presenceCheckInterval: setting({
    env: 'AIRLOCK_PRESENCE_CHECK_INTERVAL',
    flag: 'presence-check-interval',
    default: '1s',
    schema: duration,
    description: 'how often each replica looks for connected participants whose session expired or was revoked, and removes them',
  }),
} as const;

type Specs = typeof SETTINGS;
export type Settings = { [K in keyof Specs]: z.output<Specs[K]['schema']> };
