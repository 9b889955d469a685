// OpenTelemetry traces, loaded only when the OTEL_* environment asks for
// them (tracingRequested in tracing.ts): server/main.ts imports this module
// first and only then the app, because under ESM the grpc, http and pg
// instrumentations work only through the import-in-the-middle loader hook,
// which must be registered before those modules load.
//
// What a span may carry: URLs are redacted here (the /login/<ref> link ref
// and the callback's code and state are secrets), gRPC metadata and message
// bodies are never recorded (the instrumentation's defaults), and SQL is
// recorded without its parameter values (enhancedDatabaseReporting off).
import type { IncomingMessage } from 'node:http';
import module from 'node:module';
import { context, propagation, ROOT_CONTEXT, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { NodeSDK, resources } from '@opentelemetry/sdk-node';
import { redactedPath, redactedQuery } from './trace-redaction.ts';
import { installTracing } from './tracing.ts';

// Probes and scrapes come every few seconds and would each be a trace of their own.
const UNTRACED_PATHS = new Set(['/livez', '/readyz', '/healthz', '/metrics']);
// gRPC health (grpc.health.v1.Health), by method name: no Airlock method is called so.
const UNTRACED_GRPC_METHODS = ['Check', 'Watch'];

// Only these modules are wrapped by the loader hook: wrapping every module would slow the start for nothing.
const INSTRUMENTED_MODULES = ['@grpc/grpc-js', 'pg', 'pg-pool', 'http', 'https'];

function urlAttributes(path: string): Record<string, string> {
  const query = redactedQuery(path);
  return { 'url.path': redactedPath(path), 'http.route': redactedPath(path), ...(query === undefined ? {} : { 'url.query': query }) };
}

export interface RunningTracing {
  shutdown(): Promise<void>;
}

export function startTracing(env: NodeJS.ProcessEnv = process.env): RunningTracing {
  module.register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: INSTRUMENTED_MODULES } });
  // Airlock's metrics are Prometheus (/metrics) and its logs are JSON lines: only traces go to OTLP unless asked.
  env.OTEL_METRICS_EXPORTER ??= 'none';
  env.OTEL_LOGS_EXPORTER ??= 'none';
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? 'airlock',
    // Not the process detector: the command line it records may hold settings given as flags.
    ...(env.OTEL_NODE_RESOURCE_DETECTORS ? {} : { resourceDetectors: [resources.envDetector, resources.hostDetector] }),
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.has(redactedPath(request.url ?? '/')),
        startIncomingSpanHook: (request) => urlAttributes(request.url ?? '/'),
        requestHook: (span, request) => {
          // An incoming request has a url; an outgoing one (ClientRequest) a path.
          if ('path' in request) return;
          const incoming = request as IncomingMessage;
          span.updateName(`${incoming.method ?? 'GET'} ${redactedPath(incoming.url ?? '/')}`);
        },
        startOutgoingSpanHook: (options) => {
          const path = typeof options.path === 'string' ? options.path : '/';
          const host = options.hostname ?? options.host ?? 'localhost';
          const port = options.port ? `:${options.port}` : '';
          const query = redactedQuery(path);
          return {
            'url.full': `${options.protocol ?? 'http:'}//${host}${port}${redactedPath(path)}${query === undefined ? '' : `?${query}`}`,
          };
        },
        redactedQueryParams: [],
        redactedQueryParamsServer: [],
      }),
      new GrpcInstrumentation({ ignoreGrpcMethods: UNTRACED_GRPC_METHODS }),
      // Queries outside a traced request (heartbeats, sweepers, liveness pings) would each start a trace of their own.
      new PgInstrumentation({ enhancedDatabaseReporting: false, requireParentSpan: true }),
    ],
  });
  sdk.start();
  const tracer = trace.getTracer('airlock');

  installTracing({
    traceParent() {
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      return carrier.traceparent;
    },
    inSpan(name, parent, work, attributes = {}) {
      const current = trace.getActiveSpan()?.spanContext();
      const parentContext = parent ? propagation.extract(ROOT_CONTEXT, { traceparent: parent }) : context.active();
      return tracer.startActiveSpan(
        name,
        { attributes, links: current && parent ? [{ context: current }] : [] },
        parentContext,
        async (span: Span) => {
          try {
            return await work();
          } catch (error) {
            // The kind only: messages may name what a trace must not hold.
            span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'error' });
            throw error;
          } finally {
            span.end();
          }
        },
      );
    },
  });
  return { shutdown: () => sdk.shutdown() };
}
