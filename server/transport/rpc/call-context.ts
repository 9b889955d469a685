// What a procedure knows of its call, whichever transport carried it (grpc-js
// on the gRPC listener, Connect / gRPC-Web on the HTTP listener).

export interface Identity {
  did: string;
  handle: string;
  sessionId: string;
  /** When the presented access token expires. */
  expiresAt: Date;
}

export interface CallContext {
  /** Aborted when the client cancels, the deadline passes or the server shuts down. */
  signal: AbortSignal;
  /** The direct peer's address, without the port. */
  peerAddress: string;
  /**
   * The client's address: the peer's, or behind a trusted proxy the one its
   * x-forwarded-for (gRPC metadata or HTTP header) names (network/client-address.ts).
   * Rate limits and the login confirmation key on it.
   */
  clientAddress: string;
  /** The caller proven by the bearer check; absent on methods the policy does not guard. */
  identity: Identity | undefined;
  /**
   * The client's user-agent (the gRPC user-agent metadata, or the HTTP
   * request's user-agent header on Connect and gRPC-Web), when it sent one:
   * the session's client label when the client gives none.
   */
  userAgent: string | undefined;
  /** Epoch ms of the call's deadline, when the client set one (to answer before it passes). */
  deadline: number | undefined;
}

/** A unary procedure: reads a request, calls the domain, returns the response; throws domain errors. */
export type UnaryProcedure<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;
/** A server-streaming procedure: yields its messages and observes ctx.signal. */
export type StreamProcedure<Req, Res> = (request: Req, ctx: CallContext) => AsyncIterable<Res>;
