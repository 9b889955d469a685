// The composition root: builds the domain, its storage and the transports
// around it. Nothing else wires components together.
import { setUpChannels } from './channels/setup.ts';
import type { Settings } from './config/settings.ts';
import type { Logger } from './observability/logger.ts';
import { migrateToLatest, openDatabase, type OpenDatabase } from './storage/database.ts';
import { createSessionCapability, type SessionCapability } from './sessions/session-capability.ts';
import { authService } from './transport/grpc/auth-service.ts';
import { CallTracker } from './transport/grpc/call-tracker.ts';
import { channelHandlers, channelsService } from './transport/grpc/channels-service.ts';
import { loginHandlers } from './transport/grpc/login-handlers.ts';
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
  stop(graceMs?: number): Promise<void>;
}

export async function startAirlock(settings: Settings, logger: Logger): Promise<RunningAirlock> {
  // Before anything opens: a bad channel catalog stops the server here.
  const channels = setUpChannels(settings, logger);
  const database = openDatabase(settings);
  const cleanups: Array<() => Promise<void>> = [() => database.close()];
  try {
    const applied = await migrateToLatest(database.db);
    if (applied.length > 0) logger.info({ migrations: applied, engine: database.engine }, 'database migrated');

    const http = new HttpTransport(settings.httpAddress, logger);
    http.add({ method: 'GET', path: '/healthz', handle: () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' }) });
    const httpPort = await http.listen();
    cleanups.unshift(() => http.close());
    const publicUrl = settings.publicUrl ?? `http://${settings.httpAddress.host}:${httpPort}`;
    const auth = await createSessionCapability({ db: database.db, settings, issuer: publicUrl, logger });
    http.add(jwksRoute(auth.keys));

    const tracker = new CallTracker();
    const deps = { logger, tracker };
    const grpc = new GrpcTransport({ settings, logger, tracker, services: [
        authService({ ...loginHandlers(deps), ...sessionHandlers({ ...deps, sessions: auth.sessions }) }),
        channelsService(channelHandlers({ ...deps, channels })),
      ],
      interceptors: [authInterceptor({ authenticator: auth.authenticator, maxAuthorizationBytes: settings.maxMetadataBytes, logger })],
    });
    const grpcPort = await grpc.listen();

    logger.info({ grpc: `${settings.grpcAddress.host}:${grpcPort}`, http: publicUrl, grpcPort, httpPort, mode: settings.mode, engine: database.engine }, 'airlock is serving');

    return {
      grpcPort,
      httpPort,
      publicUrl,
      database,
      grpc,
      auth,
      async stop(graceMs = settings.shutdownGrace) {
        await grpc.shutdown(graceMs);
        for (const cleanup of cleanups) await cleanup();
      },
    };
  } catch (error) {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
    throw error;
  }
}
