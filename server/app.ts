// The composition root: builds the domain, its storage and the transports
// around it. Nothing else wires components together.
import { loadLiveKitSdk } from './channels/livekit-tokens.ts';
import { setUpChannels } from './channels/setup.ts';
import type { Settings } from './config/settings.ts';
import type { Logger } from './observability/logger.ts';
import { openDatabase, type OpenDatabase } from './storage/database.ts';
import { startReplicaCoordination } from './storage/postgres/replica-coordination.ts';
import { sharedRateLimiter } from './storage/postgres/shared-rate-limiter.ts';
import { prepareSchema } from './storage/schema-setup.ts';
import { PgLoginEventBus } from './login/pg-login-events.ts';
import { createSessionCapability, type SessionCapability } from './sessions/session-capability.ts';
import { authService } from './transport/grpc/auth-service.ts';
import { CallTracker } from './transport/grpc/call-tracker.ts';
import { channelHandlers, channelsService } from './transport/grpc/channels-service.ts';
import { loginHandlers } from './transport/grpc/login-handlers.ts';
import { InProcessLoginEventBus } from './login/in-process-event-bus.ts';
import { LoginBroker } from './login/login-broker.ts';
import type { LoginEventBus } from './login/login-events.ts';
import { LoginStore } from './login/login-store.ts';
import { createOAuthClient, type AirlockOAuthClient } from './oauth/client.ts';
import { inProcessRequestLock } from './oauth/request-lock.ts';
import { upstreamAuthorizer } from './oauth/upstream-authorizer.ts';
import { upstreamSessions } from './oauth/upstream-sessions.ts';
import { loginRoutes } from './transport/http/login-routes.ts';
import { oauthClientRoutes } from './transport/http/oauth-client-routes.ts';
import { authInterceptor } from './transport/grpc/auth-interceptor.ts';
import { sessionHandlers } from './transport/grpc/session-handlers.ts';
import { GrpcTransport } from './transport/grpc/server.ts';
import { HttpTransport } from './transport/http/server.ts';
import { jwksRoute } from './transport/http/jwks-route.ts';

export interface RunningAirlock {
  grpcPort: number;
  httpPort: number;
  /** The base URL of the HTTP listener as users' browsers reach it. */
  publicUrl: string;
  database: OpenDatabase;
  grpc: GrpcTransport;
  /** Signing keys, access tokens, sessions (the login broker's SessionStarter) and the authenticator. */
  auth: SessionCapability;
  /** The login broker, its event bus and the shared ATProto OAuth client. */
  login: { broker: LoginBroker; bus: LoginEventBus; oauth: AirlockOAuthClient };
  stop(graceMs?: number): Promise<void>;
}

export async function startAirlock(settings: Settings, logger: Logger): Promise<RunningAirlock> {
  // Before anything opens: a bad channel catalog stops the server here.
  const channels = setUpChannels(settings, logger);
  const database = openDatabase(settings);
  const cleanups: Array<() => Promise<void>> = [() => database.close()];
  try {
    await prepareSchema(database, settings, logger);
    // Replicas on PostgreSQL share login events, revocations, locks and liveness through it.
    const shared = database.engine === 'postgres' ? await startReplicaCoordination({ settings, database, logger }) : undefined;
    if (shared) cleanups.unshift(() => shared.close());
    let databaseReachable = true;

    const http = new HttpTransport(settings.httpAddress, logger);
    http.add({ method: 'GET', path: '/healthz', handle: () => (databaseReachable
      ? { status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' }
      : { status: 503, headers: { 'content-type': 'text/plain' }, body: 'database unreachable' }) });
    const httpPort = await http.listen();
    cleanups.unshift(() => http.close());
    const publicUrl = settings.publicUrl ?? `http://${settings.httpAddress.host}:${httpPort}`;
    const auth = await createSessionCapability({ db: database.db, settings, issuer: publicUrl, logger, publishRevocation: shared?.revocationFeed.publish });
    shared?.revocationFeed.attach(auth.revocations);
    http.add(jwksRoute(auth.keys));
    auth.sessions.startSweeping();
    cleanups.unshift(async () => auth.sessions.stopSweeping());

    const requestLock = shared?.requestLock ?? inProcessRequestLock();
    const bus = shared ? new PgLoginEventBus({ db: database.db, listener: shared.listener, logger }) : new InProcessLoginEventBus();
    const oauth = await createOAuthClient(settings, database.db, requestLock, { publicUrl, httpPort });
    auth.sessions.useUpstream(upstreamSessions(oauth.client, logger));
    const broker = new LoginBroker({
      store: new LoginStore(database.db),
      bus,
      upstream: upstreamAuthorizer(oauth, { timeoutMs: settings.upstreamTimeout }),
      sessions: auth.sessions,
      requestLock,
      logger,
      settings,
      publicUrl,
      rateLimiter: database.pool ? sharedRateLimiter({ pool: database.pool, name: 'initiate-login', points: settings.loginRatePerMinute, durationSeconds: 60 }) : undefined,
    });
    broker.start();
    cleanups.unshift(async () => {
      broker.stop();
      await bus.close();
    });
    http.add(...oauthClientRoutes(oauth), ...loginRoutes(broker, { upstreamTimeoutMs: settings.upstreamTimeout }));

    const tracker = new CallTracker();
    const deps = { logger, tracker };
    const grpc = new GrpcTransport({ settings, logger, tracker, services: [
        authService({ ...loginHandlers({ ...deps, broker }), ...sessionHandlers({ ...deps, sessions: auth.sessions }) }),
        channelsService(channelHandlers({ ...deps, channels })),
      ],
      interceptors: [authInterceptor({ authenticator: auth.authenticator, maxAuthorizationBytes: settings.maxMetadataBytes, logger })],
    });
    const grpcPort = await grpc.listen();
    shared?.watchHealth((healthy) => {
      databaseReachable = healthy;
      grpc.health.setAll(healthy ? 'SERVING' : 'NOT_SERVING');
    });

    logger.info({ grpc: `${settings.grpcAddress.host}:${grpcPort}`, http: publicUrl, grpcPort, httpPort, mode: settings.mode, engine: database.engine }, 'airlock is serving');
    // What serving did not need before SERVING loads now, ahead of its first use.
    void loadLiveKitSdk().catch((err: unknown) => logger.error({ err }, 'could not load the LiveKit SDK'));

    return {
      grpcPort,
      httpPort,
      publicUrl,
      database,
      grpc,
      auth,
      login: { broker, bus, oauth },
      async stop(graceMs = settings.shutdownGrace) {
        await shared?.stopWatching();
        await grpc.shutdown(graceMs);
        for (const cleanup of cleanups) await cleanup();
      },
    };
  } catch (error) {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
    throw error;
  }
}
