// What the domain asks of tracing, without importing OpenTelemetry: when
// tracing is off (the default) these are no-ops and no OTel module is loaded;
// when the OTEL_* environment turns it on, tracing-sdk.ts installs the real
// implementation before the app is imported.
//
// A login spans several requests (InitiateLogin, the browser's link and
// callback, AwaitLogin), so it keeps the W3C traceparent of its InitiateLogin
// call and later work joins that trace as child spans, each linked to the
// request span it ran in.

export interface LoginTracing {
  /** The active span's context as a W3C traceparent; undefined when tracing is off or no span is active. */
  traceParent(): string | undefined;
  /**
   * Runs `work` in a span named `name`, child of `traceParent` (when given,
   * else of the active span) and linked to the active span. The attributes
   * must be small closed values: never a DID, token, login id or code.
   */
  inSpan<T>(name: string, traceParent: string | null | undefined, work: () => Promise<T>, attributes?: Record<string, string>): Promise<T>;
}

const off: LoginTracing = {
  traceParent: () => undefined,
  inSpan: (_name, _parent, work) => work(),
};

let installed: LoginTracing = off;

/** Called once by tracing-sdk.ts when tracing is on. */
export function installTracing(implementation: LoginTracing): void {
  installed = implementation;
}

export const tracing: LoginTracing = {
  traceParent: () => installed.traceParent(),
  inSpan: (name, parent, work, attributes) => installed.inSpan(name, parent, work, attributes),
};

/**
 * Whether the standard OTel environment asks for traces: the SDK is not
 * disabled (OTEL_SDK_DISABLED) and either OTEL_TRACES_EXPORTER names an
 * exporter other than "none" or an OTLP endpoint is set (the exporter then
 * defaults to otlp). Nothing else turns tracing on.
 */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  if (exporters.length > 0) return !exporters.every((name) => name === 'none');
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}
