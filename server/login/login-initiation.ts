// InitiateLogin: rate and pending limits, the identifier and challenge
// checked, a pushed authorization request at the user's authorization
// server, and the login stored with only hashes of its id and link ref.
import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { InvalidArgumentError, ResourceExhaustedError, UnavailableError } from '../errors.ts';
import { networkKey } from '../network/client-address.ts';
import { metrics } from '../observability/metrics.ts';
import { tracing } from '../observability/tracing.ts';
import { clientLabelOf, DEFAULT_CLIENT_LABEL_MAX_LENGTH } from './client-label.ts';
import { newConfirmationCode } from './confirmation-code.ts';
import { parseIdentifier } from './identifier.ts';
import { LOGIN_PATH, type LoginBrokerOptions } from './login-types.ts';
import { sealingKeyFor } from './result-sealing.ts';
import { isVerifierChallenge, randomSecret, sha256 } from './secrets.ts';

// Time kept back from the caller's deadline to send UNAVAILABLE before it passes.
const DEADLINE_MARGIN_MS = 500;
// How long a count of waiting logins serves the early refusal before InitiateLogin counts again.
const EARLY_COUNT_MAX_AGE_MS = 1_000;

export class LoginInitiation {
  readonly #o: LoginBrokerOptions;
  readonly #limiter: RateLimiterAbstract;

  /** The last count of waiting logins, for the early refusal (the cap itself is counted with the insert). */
  #pending: { at: number; count: number } | undefined;

  constructor(options: LoginBrokerOptions) {
    this.#o = options;
    this.#limiter = options.rateLimiter ?? new RateLimiterMemory({ points: options.settings.loginRatePerMinute, duration: 60 });
  }

  async initiate(input: {
    identifier: string;
    verifierChallenge: string;
    /** The client's address as the transport resolved it (behind trusted proxies, the forwarded one); '' when unknown. */
    clientAddress: string;
    /** The app's optional client_label ('' when absent). */
    clientLabel?: string;
    /** The call's user-agent, the label when the app sent none. */
    userAgent?: string;
    signal: AbortSignal;
    /** Epoch ms by which the caller needs an answer, if it set one. */
    deadline?: number;
  }): Promise<{ loginId: string; authorizeUrl: string; expiresAt: Date; confirmationCode: string }> {
    const { settings } = this.#o;
    try {
      // Per network: an IPv6 client has a whole /64 to pick addresses from.
      await this.#limiter.consume(networkKey(input.clientAddress));
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      throw new ResourceExhaustedError(
        `too many logins started from this address (limit ${settings.loginRatePerMinute} per minute); retry in ${Math.ceil(error.msBeforeNext / 1000)} s`,
        error.msBeforeNext,
      );
    }
    const identifier = parseIdentifier(input.identifier, { allowHttp: settings.allowHttp });
    const clientLabel = clientLabelOf({
      label: input.clientLabel ?? '',
      userAgent: input.userAgent,
      maxLength: settings.clientLabelMaxLength ?? DEFAULT_CLIENT_LABEL_MAX_LENGTH,
    });
    if (!isVerifierChallenge(input.verifierChallenge)) {
      throw new InvalidArgumentError(
        'login_verifier_challenge must be the base64url (no padding) SHA-256 of a 43 to 128 character verifier (43 characters)',
      );
    }
    if (await this.#looksFull()) {
      throw new ResourceExhaustedError(`too many logins are waiting for users (limit ${settings.maxPendingLogins}); retry later`);
    }

    const ref = randomSecret();
    const loginId = randomSecret();
    const linkRef = randomSecret();
    const confirmationCode = newConfirmationCode();
    const authorizeUrl = await this.authorize(identifier, ref, input.signal, input.deadline);
    const createdAt = Date.now();
    const expiresAt = createdAt + settings.loginTtl;
    const network = networkKey(input.clientAddress);
    const capReached = await this.#o.store.insertWithinCap(
      {
        ref,
        loginIdHash: sha256(loginId),
        linkRefHash: sha256(linkRef),
        verifierChallenge: input.verifierChallenge,
        identifier: identifier.value,
        createdAt,
        expiresAt,
        authorizeUrl: authorizeUrl.href,
        resultKey: sealingKeyFor(loginId),
        // The callback and the completed event join this call's trace.
        traceParent: tracing.traceParent(),
        clientLabel,
        confirmation: { code: confirmationCode, initiatorAddress: input.clientAddress },
        initiatorNetwork: network,
      },
      { total: settings.maxPendingLogins, perNetwork: settings.maxPendingLoginsPerNetwork },
    );
    // The count above is a cheap early refusal; this one, taken with the insert, is the cap.
    // The early estimate follows what the insert learned.
    if (this.#pending && capReached === undefined) this.#pending.count += 1;
    else if (this.#pending && capReached === 'total') this.#pending.count = settings.maxPendingLogins;
    if (capReached === 'total')
      throw new ResourceExhaustedError(`too many logins are waiting for users (limit ${settings.maxPendingLogins}); retry later`);
    if (capReached === 'network') {
      throw new ResourceExhaustedError(
        `too many logins started from this network are waiting for users (limit ${settings.maxPendingLoginsPerNetwork}); finish or cancel one, or retry later`,
      );
    }
    this.#o.logger.info({ login: ref.slice(0, 8), identifierKind: identifier.kind }, 'login initiated');
    metrics.loginsInitiated.inc();
    return {
      loginId,
      authorizeUrl: `${this.#o.publicUrl.replace(/\/$/, '')}${LOGIN_PATH}${linkRef}`,
      expiresAt: new Date(expiresAt),
      confirmationCode,
    };
  }

  /**
   * Whether the deployment is full of waiting logins, to refuse early, before
   * a PAR. A count up to EARLY_COUNT_MAX_AGE_MS old says "not full" (so not
   * every InitiateLogin counts every waiting login); "full" is counted again,
   * so a refusal follows the current count.
   */
  async #looksFull(): Promise<boolean> {
    const max = this.#o.settings.maxPendingLogins;
    const count = async () => {
      const now = Date.now();
      this.#pending = { at: now, count: await this.#o.store.countPending(now) };
      return this.#pending.count;
    };
    const stale = !this.#pending || Date.now() - this.#pending.at >= EARLY_COUNT_MAX_AGE_MS;
    const estimate = stale ? await count() : this.#pending!.count;
    if (estimate < max) return false;
    return stale || (await count()) >= max;
  }

  /**
   * Pushes an authorization request within the upstream timeout and the
   * caller's deadline (less a margin to send the answer), whichever is sooner.
   */
  async authorize(identifier: ReturnType<typeof parseIdentifier>, ref: string, signal: AbortSignal, deadline?: number): Promise<URL> {
    const budget = Math.max(
      100,
      Math.min(this.#o.settings.upstreamTimeout, deadline === undefined ? Infinity : deadline - Date.now() - DEADLINE_MARGIN_MS),
    );
    const timeout = AbortSignal.timeout(budget);
    try {
      return await this.#o.upstream.authorize(identifier, ref, AbortSignal.any([signal, timeout]));
    } catch (error) {
      if (timeout.aborted && !signal.aborted) {
        throw new UnavailableError(`the PDS or authorization server for ${identifier.value} did not answer within ${budget} ms`);
      }
      throw error;
    }
  }
}
