// The gRPC listener: Airlock's services, health, reflection, keepalive and
// limits, and a shutdown that drains instead of dropping.
import { format } from 'node:util';
import { Server, ServerCredentials, setLogger, type ServerInterceptor, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { Settings } from '../../config/settings.ts';
import { invalidSetting } from '../../config/load.ts';
import type { Logger } from '../../observability/logger.ts';
import type { CallTracker } from './call-tracker.ts';
import { Health } from './health.ts';
import { loggingInterceptor } from './logging-interceptor.ts';
import { metadataLimitInterceptor } from './metadata-limit-interceptor.ts';
import { metricsInterceptor } from './metrics-interceptor.ts';
import { addReflection, DescriptorIndex } from './reflection.ts';
import type { ServerCertificate } from '../tls/server-certificate.ts';
import { reloadingServerCredentials } from './tls-credentials.ts';

export interface ServiceBinding {
  /** Fully qualified name, e.g. "airlock.auth.v1.AuthService". */
  name: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

export interface GrpcTransportOptions {
  settings: Settings;
  logger: Logger;
  tracker: CallTracker;
  services: ServiceBinding[];
  /** Run after logging and the metadata limit, in order, e.g. the bearer interceptor. */
  interceptors?: ServerInterceptor[];
  /** Serve TLS with this certificate (it follows reloads); absent = plaintext. */
  tls?: { certificate: ServerCertificate; requireClientCertificate: boolean };
}

export class GrpcTransport {
  readonly health: Health;
  readonly #server: Server;
  #port = 0;

  private readonly options: GrpcTransportOptions;

  constructor(options: GrpcTransportOptions) {
    this.options = options;
    const { settings, logger, services } = options;
    // grpc-js writes its own diagnostics to stderr; keep them in our structured log.
    setLogger({ error: (...args: unknown[]) => logger.debug({ source: 'grpc-js' }, format(...args)) });
    this.#server = new Server({
      interceptors: [
        metricsInterceptor(),
        loggingInterceptor(logger),
        options.tracker.interceptor(),
        // Before authentication: an oversized call costs no token check.
        metadataLimitInterceptor(settings.maxMetadataBytes),
        ...(options.interceptors ?? []),
      ],
      'grpc.max_receive_message_length': settings.maxMessageBytes,
      'grpc.keepalive_time_ms': settings.keepaliveTime,
      'grpc.keepalive_timeout_ms': settings.keepaliveTimeout,
      // Clients behind NATs keep long AwaitLogin streams alive with their own pings.
      'grpc.http2.min_ping_interval_without_data_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      // Nothing here serves channelz; with it on, grpc-js keeps per-call
      // trackers and stamps every message sent (each AwaitLogin heartbeat).
      'grpc.enable_channelz': 0,
    });
    const names = services.map((s) => s.name);
    for (const service of services) this.#server.addService(service.definition, service.implementation);
    this.health = new Health(names);
    this.health.addToServer(this.#server);
    if (settings.reflection) {
      const reflection = ['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];
      addReflection(this.#server, DescriptorIndex.load([...names, 'grpc.health.v1.Health', ...reflection]));
    }
  }

  get port(): number {
    return this.#port;
  }

  /** Streaming calls in flight (for leak tests and metrics). */
  get openStreams(): number {
    return this.options.tracker.openStreams;
  }

  async listen(): Promise<number> {
    const { host, port } = this.options.settings.grpcAddress;
    const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const { tls } = this.options;
    const credentials = tls
      ? reloadingServerCredentials(tls.certificate, tls.requireClientCertificate)
      : ServerCredentials.createInsecure();
    this.#port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(target, credentials, (error, boundPort) => {
        if (error) reject(invalidSetting('grpcAddress', `cannot listen on ${target}: ${error.message.split('\n')[0]}`));
        else resolve(boundPort);
      });
    });
    this.health.setAll('SERVING');
    return this.#port;
  }

  /**
   * Health goes NOT_SERVING, new calls are refused, open streams end with
   * UNAVAILABLE, unary calls in flight finish; after graceMs the rest is cut.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.health.setAll('NOT_SERVING');
    this.options.tracker.drain();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.options.logger.warn({ graceMs }, 'grace period over; cutting remaining calls');
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
