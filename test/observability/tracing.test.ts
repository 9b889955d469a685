// OpenTelemetry traces from a real server process, exported over OTLP/HTTP
// (JSON) to a real receiver in this process, after a real login through the
// sandbox PDS in real Chromium on real PostgreSQL: InitiateLogin, the
// browser's link and callback, and the completed event share one trace, the
// gRPC, HTTP and pg instrumentations record spans, and no span anywhere holds
// the login id, the link ref, the code, the state, a token or the DID.
// Without the OTEL_* environment no OpenTelemetry module is even loaded.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild, type ChildAirlock } from '../support/airlock.ts';
import { consentInBrowser, launchBrowser, type TestBrowser } from '../support/consent.ts';
import { call, clientsFor } from '../support/grpc.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { attribute, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.ts';
import { startPds, type TestPds } from '../support/pds.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { tempDir } from '../support/settings.ts';
import { until } from '../support/rooms.ts';
import { tracingRequested } from '../../server/observability/tracing.ts';
import { redactedPath, redactedQuery } from '../../server/observability/trace-redaction.ts';

const SPAN_KIND_SERVER = 2;

// A loader hook in the server process that reports every OpenTelemetry module it resolves, on stderr.
function otelImportReporter(dir: string): string {
  const file = path.join(dir, 'report-otel-imports.mjs');
  writeFileSync(
    file,
    `import module from 'node:module';
module.registerHooks({
  resolve(specifier, context, next) {
    if (specifier.includes('@opentelemetry/')) process.stderr.write('otel-import ' + specifier + ' from ' + context.parentURL + '\\n');
    return next(specifier, context);
  },
});
`,
  );
  return file;
}

describe('when the OTEL_* environment asks for traces', () => {
  let pds: TestPds;
  let database: TestDatabase;
  let receiver: OtlpReceiver;
  let server: ChildAirlock;
  let browser: TestBrowser;
  let clients: ReturnType<typeof clientsFor>;
  let dir: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    dir = tempDir('airlock-tracing-');
    pds = await startPds();
    database = await createTestDatabase();
    receiver = await startOtlpReceiver();
    server = await startChild({
      ...pds.airlockEnv(),
      AIRLOCK_DATABASE_URL: database.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      NODE_OPTIONS: `--import ${otelImportReporter(dir.path)}`,
    });
    clients = clientsFor(server.grpcTarget);
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    clients?.close();
    await server?.stop();
    await receiver?.close();
    await database?.drop();
    await pds?.stop();
    dir?.remove();
  });

  it('puts InitiateLogin, the link, the callback and the completed event in one trace, with nothing secret in any span', async () => {
    const account = await pds.createAccount();
    const started = await initiateLogin(clients.auth, account.handle);
    const linkRef = new URL(started.authorizeUrl).pathname.split('/').pop()!;
    const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
    await stream.next('pending');
    const page = await browser.context.newPage();
    await consentInBrowser(page, started.authorizeUrl, account, 'approve');
    const callback = new URL(page.url());
    const code = callback.searchParams.get('code')!;
    const state = callback.searchParams.get('state')!;
    expect(code).toBeTruthy();
    const session = (await stream.next('completed')).session!;
    expect((await stream.end).code).toBe(status.OK);
    await page.close();

    const named = (name: string) => receiver.spans.filter((s) => s.name === name);
    await until(async () => named('airlock.login.completed').length > 0, 'the completed event span to be exported');

    const [initiate, ...moreInitiates] = named('grpc.airlock.auth.v1.AuthService/InitiateLogin');
    expect(moreInitiates).toEqual([]);
    expect(initiate!.kind).toBe(SPAN_KIND_SERVER);
    expect(attribute(initiate!, 'rpc.system')).toBe('grpc');
    const trace = initiate!.traceId;

    // The browser's requests are their own HTTP spans (their own traces); the login's work in them joins InitiateLogin's trace.
    const [link] = named('airlock.login.link');
    const [callbackWork] = named('airlock.login.callback');
    const [completed] = named('airlock.login.completed');
    for (const span of [link, callbackWork, completed]) {
      expect(span?.traceId).toBe(trace);
      expect(span?.parentSpanId).toBe(initiate!.spanId);
    }
    const callbackRequest = named('GET /oauth/callback');
    expect(callbackRequest).toHaveLength(1);
    expect(callbackRequest[0]!.kind).toBe(SPAN_KIND_SERVER);
    expect(attribute(callbackRequest[0]!, 'url.path')).toBe('/oauth/callback');
    expect(attribute(callbackRequest[0]!, 'url.query')).toBe('state=REDACTED&iss=REDACTED&code=REDACTED');
    // The callback's work is linked to the request it ran in, and the completed event to the AwaitLogin call.
    expect(callbackWork!.links?.map((l) => l.spanId)).toEqual([callbackRequest[0]!.spanId]);
    const [awaitCall] = named('grpc.airlock.auth.v1.AuthService/AwaitLogin');
    expect(completed!.links?.map((l) => l.spanId)).toEqual([awaitCall!.spanId]);
    const linkRequest = named('GET /login/{ref}');
    expect(linkRequest).toHaveLength(1);
    expect(attribute(linkRequest[0]!, 'url.path')).toBe('/login/{ref}');

    // pg spans: the database work of InitiateLogin and of the callback are children in the login's trace.
    const database = receiver.spans.filter((s) => s.traceId === trace && attribute(s, 'db.system.name') === 'postgresql');
    expect(database.some((s) => s.parentSpanId === initiate!.spanId)).toBe(true);
    expect(database.some((s) => s.parentSpanId === callbackWork!.spanId)).toBe(true);
    // Only work of a traced request is recorded: no query of a timer (heartbeat, sweeper) starts a trace of its own.
    const roots = receiver.spans.filter((s) => !s.parentSpanId && attribute(s, 'db.system.name') === 'postgresql');
    expect(roots).toEqual([]);

    // Nothing secret or identifying anywhere in what was exported: names, attributes, links, resource.
    const exported = receiver.bodies.join('\n');
    const secrets = {
      loginId: started.loginId,
      verifier: started.verifier,
      linkRef,
      code,
      state,
      accessToken: session.accessToken,
      refreshToken: session.refreshToken,
      did: account.did,
      sessionId: session.sessionId,
    };
    for (const [what, secret] of Object.entries(secrets)) expect(exported.includes(secret), `${what} in an exported span`).toBe(false);

    // The server loaded OpenTelemetry (the reporter works).
    expect(server.stderr.some((line) => line.startsWith('otel-import '))).toBe(true);
  });

  it('starts a new trace for each login, and none for probes and health checks', async () => {
    for (const probe of ['/livez', '/readyz', '/healthz'])
      expect((await fetch(`http://127.0.0.1:${server.httpPort}${probe}`)).status).toBe(200);
    expect((await call(clients.health, clients.health.check, { service: '' })).status).toBe(1); // SERVING
    const account = await pds.createAccount();
    await initiateLogin(clients.auth, account.handle);
    await until(
      async () => receiver.spans.filter((s) => s.name === 'grpc.airlock.auth.v1.AuthService/InitiateLogin').length === 2,
      'the second InitiateLogin span',
    );
    const traces = new Set(
      receiver.spans.filter((s) => s.name === 'grpc.airlock.auth.v1.AuthService/InitiateLogin').map((s: ReceivedSpan) => s.traceId),
    );
    expect(traces.size).toBe(2);
    // Exported in the same batches as the InitiateLogin span (or earlier), had they been traced.
    const names = receiver.spans.map((s) => s.name);
    expect(names.filter((name) => /livez|readyz|healthz|Health/.test(name))).toEqual([]);
  });
});

describe('without the OTEL_* environment', () => {
  it('loads no OpenTelemetry module at all', async () => {
    const dir = tempDir('airlock-no-tracing-');
    const env: Record<string, string> = { NODE_OPTIONS: `--import ${otelImportReporter(dir.path)}` };
    // The test process's own environment must not turn it on.
    for (const key of Object.keys(process.env)) if (key.startsWith('OTEL_')) env[key] = '';
    const server = await startChild(env);
    try {
      // prom-client probes for the OTel API (for exemplars) whether or not tracing is on; nothing else may load.
      const loaded = server.stderr.filter((line) => line.startsWith('otel-import '));
      expect(loaded.filter((line) => !/^otel-import @opentelemetry\/api from \S+\/node_modules\/prom-client\//.test(line))).toEqual([]);
    } finally {
      await server.stop();
      dir.remove();
    }
  });
});

describe('which environment turns tracing on', () => {
  it('follows the standard variables', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(false);
    expect(tracingRequested({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' })).toBe(false);
    expect(tracingRequested({ OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
  });

  it('redacts the paths and query strings that carry secrets', () => {
    expect(redactedPath('/login/abc_DEF-123')).toBe('/login/{ref}');
    expect(redactedPath('/oauth/callback?code=x&state=y')).toBe('/oauth/callback');
    expect(redactedQuery('/oauth/callback?code=x&state=y&code=z')).toBe('code=REDACTED&state=REDACTED');
    expect(redactedQuery('/livez')).toBeUndefined();
  });
});
