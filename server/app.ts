// The composition root: builds the domain, its storage and the transports
// around it. Nothing else wires components together.
import { loadCatalog } from './channels/catalog.ts';
import { loadLiveKitSdk } from './channels/livekit-tokens.ts';
import type { RoomPresence } from './channels/presence.ts';
import { setUpChannels, setUpPresence } from './channels/setup.ts';
import type { ListenerName, Settings } from './config/settings.ts';
import { requiresClientCertificate, servesTls } from './config/load.ts';
import { ClientAddressResolver } from './network/client-address.ts';
import { describeCertificate, ServerCertificate } from './transport/tls/server-certificate.ts';
import type { Logger } from './observability/logger.ts';
import { addGaugeSource, registry } from './observability/metrics.ts';
import { loadMasterKeys } from './storage/at-rest.ts';
import { openDatabase, type OpenDatabase } from './storage/database.ts';
import { sealStoredSecrets } from './storage/seal-stored-secrets.ts';
import { startReplicaCoordination } from './coordination/replica-coordination.ts';
import { sharedRateLimiter } from './storage/postgres/shared-rate-limiter.ts';
import { prepareSchema } from './storage/schema-setup.ts';
import { PgLoginEventBus } from './coordination/pg-login-events.ts';
import { createSessionCapability, type SessionCapability } from './sessions/session-capability.ts';
import { authService } from './transport/grpc/auth-service.ts';
import { CallTracker } from './transport/grpc/call-tracker.ts';
import { channelHandlers, channelsService } from './transport/grpc/channels-service.ts';
import { loginHandlers } from './transport/grpc/login-handlers.ts';
import { InProcessLoginEventBus } from './coordination/in-process-event-bus.ts';
import { LoginBroker } from './login/login-broker.ts';
import type { LoginEventBus } from './coordination/login-events.ts';
import { LoginStore } from './login/login-store.ts';
import { createOAuthClient, type AirlockOAuthClient } from './oauth/client.ts';
import { inProcessRequestLock } from './coordination/request-lock.ts';
import { upstreamAuthorizer } from './oauth/upstream-authorizer.ts';
import { upstreamSessions } from './oauth/upstream-sessions.ts';
import { loginRoutes } from './transport/http/login-routes.ts';
import { oauthClientRoutes } from './transport/http/oauth-client-routes.ts';
import { authInterceptor } from './transport/grpc/auth-interceptor.ts';
import { sessionHandlers } from './transport/grpc/session-handlers.ts';
import { GrpcTransport } from './transport/grpc/server.ts';
import { HttpTransport } from './transport/http/server.ts';
import { connectHandler } from './transport/connect/connect-handler.ts';
import { channelProcedures } from './transport/rpc/channel-procedures.ts';
import { loginProcedures } from './transport/rpc/login-procedures.ts';
import { sessionProcedures } from './transport/rpc/session-procedures.ts';
import { jwksRoute } from './transport/http/jwks-route.ts';
import { livekitTokenRoute } from './transport/http/livekit-token-route.ts';
import { livekitWebhookRoute } from './transport/http/livekit-webhook-route.ts';

export interface RunningAirlock {
  grpcPort: number;
  httpPort: number;
  /** The admin listener's port (Prometheus /metrics), when adminAddress is set. */
  adminPort?: number;
  /** The base URL of the HTTP listener as users' browsers reach it. */
  publicUrl: string;
  database: OpenDatabase;
  grpc: GrpcTransport;
  /** Signing keys, access tokens, sessions (the login broker's SessionStarter) and the authenticator. */
  auth: SessionCapability;
  /** The login broker, its event bus and the shared ATProto OAuth client. */
  login: { broker: LoginBroker; bus: LoginEventBus; oauth: AirlockOAuthClient };
  /** Who is connected to LiveKit, and the removal of participants whose access ended. */
  presence: RoomPresence;
  /**
   * Re-reads the channel catalog file (SIGHUP): new tokens follow it at once,
   * and connected participants it no longer admits are removed, or narrowed
   * to its permissions. A bad file throws and changes nothing.
   */
  reloadCatalog(): Promise<void>;
  /**
   * Re-reads the TLS certificate, key and client CA (SIGHUP): new handshakes
   * on every TLS listener present the new pair; a bad pair is logged and the
   * one in force stays. Resolves true when the certificate changed.
   */
  reloadTls(): Promise<boolean>;
  stop(graceMs?: number): Promise<void>;
}

export async function startAirlock(settings: Settings, logger: Logger): Promise<RunningAirlock> {
  // Before anything opens: a bad channel catalog stops the server here.
  const channels = setUpChannels(settings, logger);
  // The master key first: without it nothing stored can be read.
  const sealer = loadMasterKeys(settings);
  // And the TLS certificate: a listener must not start with a pair that does not load.
  const certificate = settings.tlsCertFile
    ? await ServerCertificate.load(
        { certFile: settings.tlsCertFile, keyFile: settings.tlsKeyFile, clientCaFile: settings.tlsClientCaFile || undefined },
        logger,
      )
    : undefined;
  const tlsFor = (listener: ListenerName) =>
    certificate && servesTls(settings, listener)
      ? { certificate, requireClientCertificate: requiresClientCertificate(settings, listener) }
      : undefined;
  const database = openDatabase(settings);
  const cleanups: Array<() => Promise<void>> = [() => database.close()];
  if (certificate) cleanups.unshift(async () => certificate.stop());
  try {
    await prepareSchema(database, settings, logger);
    // Secrets stored in clear by an earlier version are sealed now.
    const sealed = await sealStoredSecrets(database.db, sealer, { onlyPlaintext: true });
    if (sealed > 0) logger.info({ sealed }, 'encrypted secrets stored in clear by an earlier version');
    // Replicas on PostgreSQL share login events, revocations, locks and liveness through it.
    const shared = database.engine === 'postgres' ? await startReplicaCoordination({ settings, database, logger }) : undefined;
    if (shared) cleanups.unshift(() => shared.close());
    let databaseReachable = true;
    let adminPort: number | undefined;
    // Ready once gRPC serves, until shutdown starts draining: a load balancer stops sending new work then.
    let phase: 'starting' | 'serving' | 'draining' = 'starting';
    const text = (status: number, body: string) => ({ status, headers: { 'content-type': 'text/plain; charset=utf-8' }, body });
    const notReady = () => (phase !== 'serving' ? phase : databaseReachable ? undefined : 'database unreachable');

    // One view of who the client is, for both listeners: the peer, or behind a trusted proxy the forwarded address.
    const addresses = new ClientAddressResolver(settings.trustedProxies);
    const http = new HttpTransport(settings.httpAddress, logger, {
      hsts: settings.mode === 'production',
      tls: tlsFor('http'),
      addresses,
    });
    http.add(
      // The process is up and its event loop answers: restart it only when this fails.
      { method: 'GET', path: '/livez', handle: () => text(200, 'ok') },
      // Send traffic here: the database answers and the server is not starting or draining.
      {
        method: 'GET',
        path: '/readyz',
        handle: () => {
          const reason = notReady();
          return reason ? text(503, reason) : text(200, 'ok');
        },
      },
      // The database check alone, as before /readyz existed.
      { method: 'GET', path: '/healthz', handle: () => (databaseReachable ? text(200, 'ok') : text(503, 'database unreachable')) },
    );
    const httpPort = await http.listen();
    cleanups.unshift(() => http.close());
    // Metrics go on their own listener, never the public one: what they reveal (traffic, failures) is for operators.
    if (settings.adminAddress) {
      const admin = new HttpTransport(settings.adminAddress, logger, { setting: 'adminAddress', tls: tlsFor('admin') });
      admin.add({
        method: 'GET',
        path: '/metrics',
        handle: async () => ({ status: 200, headers: { 'content-type': registry.contentType }, body: await registry.metrics() }),
      });
      await admin.listen();
      cleanups.unshift(() => admin.close());
      adminPort = admin.port;
    }
    const gauges = [
      addGaugeSource('airlock_database_up', () => (databaseReachable ? 1 : 0)),
      ...(database.pool
        ? [
            addGaugeSource('airlock_database_pool_connections_total', () => database.pool?.totalCount ?? 0),
            addGaugeSource('airlock_database_pool_connections_idle', () => database.pool?.idleCount ?? 0),
            addGaugeSource('airlock_database_pool_waiting_clients', () => database.pool?.waitingCount ?? 0),
          ]
        : []),
    ];
    cleanups.unshift(async () => {
      for (const remove of gauges) remove();
    });
    const publicUrl = settings.publicUrl ?? `http://${settings.httpAddress.host}:${httpPort}`;
    const requestLock = shared?.requestLock ?? inProcessRequestLock();
    const oauth = await createOAuthClient(settings, database.db, requestLock, { publicUrl, httpPort }, sealer);
    const auth = await createSessionCapability({
      db: database.db,
      settings,
      issuer: publicUrl,
      logger,
      sealer,
      upstream: upstreamSessions(oauth, logger),
      publishRevocation: shared?.revocationFeed.publish,
    });
    shared?.revocationFeed.attach(auth.revocations);
    http.add(jwksRoute(auth.keys));
    auth.sessions.startSweeping();
    cleanups.unshift(async () => auth.sessions.stopSweeping());

    // Revocation reaches the room: presence from LiveKit's webhooks, removal through its server API.
    const presence = setUpPresence(settings, database.db, channels, logger);
    auth.sessions.onRevoked((sessionId) => presence.evictSession(sessionId));
    http.add(
      livekitWebhookRoute(presence, { maxBodyBytes: settings.livekitWebhookMaxBytes }),
      // LiveKit's endpoint token format, beside GetChannelToken and with the same policy.
      livekitTokenRoute({ authenticator: auth.authenticator, channels, maxBodyBytes: settings.livekitTokenRequestMaxBytes }),
    );
    presence.start();
    cleanups.unshift(() => presence.stop());
    const bus = shared ? new PgLoginEventBus({ db: database.db, listener: shared.listener, logger }) : new InProcessLoginEventBus();
    const broker = new LoginBroker({
      store: new LoginStore(database.db, { sealer }),
      bus,
      upstream: upstreamAuthorizer(oauth, { timeoutMs: settings.upstreamTimeout }),
      sessions: auth.sessions,
      requestLock,
      logger,
      settings,
      publicUrl,
      rateLimiter: database.pool
        ? sharedRateLimiter({ pool: database.pool, name: 'initiate-login', points: settings.loginRatePerMinute, durationSeconds: 60 })
        : undefined,
    });
    broker.start();
    cleanups.unshift(async () => {
      broker.stop();
      await bus.close();
    });
    http.add(
      ...oauthClientRoutes(oauth),
      ...loginRoutes(broker, {
        upstreamTimeoutMs: settings.upstreamTimeout,
        secureCookies: publicUrl.startsWith('https://'),
        loginTtlMs: settings.loginTtl,
        maxFormBytes: settings.loginFormMaxBytes,
      }),
    );

    const tracker = new CallTracker();
    const deps = { logger, tracker, addresses };
    const grpc = new GrpcTransport({
      settings,
      logger,
      tracker,
      services: [
        authService({ ...loginHandlers({ ...deps, broker }), ...sessionHandlers({ ...deps, sessions: auth.sessions }) }),
        channelsService(channelHandlers({ ...deps, channels })),
      ],
      interceptors: [authInterceptor({ authenticator: auth.authenticator, logger })],
      tls: tlsFor('grpc'),
    });
    // The same procedures, policy and bearer check for browsers and webviews, on the HTTP listener.
    http.mount(
      connectHandler({
        logger,
        tracker,
        addresses,
        bearer: { authenticator: auth.authenticator },
        maxMetadataBytes: settings.maxMetadataBytes,
        maxMessageBytes: settings.maxMessageBytes,
        corsOrigins: settings.corsOrigins,
        auth: { ...loginProcedures(broker), ...sessionProcedures(auth.sessions) },
        channels: channelProcedures(channels),
      }),
    );
    const grpcPort = await grpc.listen();
    shared?.watchHealth((healthy) => {
      databaseReachable = healthy;
      grpc.health.setAll(healthy ? 'SERVING' : 'NOT_SERVING');
    });

    certificate?.watch(settings.tlsReloadInterval);

    phase = 'serving';
    const listening: ListenerName[] = settings.adminAddress ? ['grpc', 'http', 'admin'] : ['grpc', 'http'];
    const tlsListeners = listening.filter((listener) => tlsFor(listener));
    logger.info(
      {
        grpc: `${settings.grpcAddress.host}:${grpcPort}`,
        http: publicUrl,
        grpcPort,
        httpPort,
        mode: settings.mode,
        engine: database.engine,
        ...(adminPort === undefined ? {} : { adminPort }),
        tls: certificate
          ? {
              listeners: tlsListeners,
              mtls: tlsListeners.filter((l) => requiresClientCertificate(settings, l)),
              ...describeCertificate(certificate.current),
            }
          : false,
      },
      'airlock is serving',
    );
    // What serving did not need before SERVING loads now, ahead of its first use.
    void loadLiveKitSdk().catch((err: unknown) => logger.error({ err }, 'could not load the LiveKit SDK'));

    return {
      grpcPort,
      httpPort,
      adminPort,
      publicUrl,
      database,
      grpc,
      auth,
      login: { broker, bus, oauth },
      presence,
      async reloadCatalog() {
        const catalog = loadCatalog(settings.channelsFile);
        channels.replaceCatalog(catalog);
        logger.info({ channels: catalog.all().length, catalog: settings.channelsFile || 'embedded default' }, 'channel catalog reloaded');
        await presence.enforceCatalog();
      },
      async reloadTls() {
        if (!certificate) {
          logger.info('no TLS certificate configured; nothing to reload');
          return false;
        }
        return certificate.reload('signal');
      },
      async stop(graceMs = settings.shutdownGrace) {
        phase = 'draining';
        await shared?.stopWatching();
        // Both listeners drain within the same grace, before anything they use closes.
        await Promise.all([grpc.shutdown(graceMs), http.drain(graceMs)]);
        for (const cleanup of cleanups) await cleanup();
      },
    };
  } catch (error) {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
    throw error;
  }
}
