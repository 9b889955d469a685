// The login link (/login/<ref>): the browser's first visit is recorded and
// announced; when AIRLOCK_LOGIN_CONFIRMATION asks for it, a confirmation
// page (app name, when and from which network the login started, its code)
// comes first and only its own POST goes on; then the browser is sent on to
// the authorization server with a pushed request it can still use.
import { AirlockError } from '../errors.ts';
import { describeNetwork } from '../network/client-address.ts';
import { metrics } from '../observability/metrics.ts';
import { tracing } from '../observability/tracing.ts';
import type { AuditEvent } from '../storage/audit-log.ts';
import { browserTokenKey, needsConfirmation, sameToken, tokenMatches } from './browser-binding.ts';
import { parseIdentifier } from './identifier.ts';
import type { LoginCompletion } from './login-completion.ts';
import type { LoginInitiation } from './login-initiation.ts';
import type { LoginRecord } from './login-store.ts';
import { isCancelled, type LinkOutcome, type LoginBrokerOptions } from './login-types.ts';
import { randomSecret, sha256 } from './secrets.ts';

const LINK_REF = /^[A-Za-z0-9_-]{43}$/;

export type ConfirmationDecision = 'shown' | 'confirmed' | 'cancelled' | 'skipped-same-network' | 'refused';

const AUDIT_EVENTS: Record<ConfirmationDecision, AuditEvent> = {
  shown: 'login-confirmation-shown',
  confirmed: 'login-confirmation-confirmed',
  cancelled: 'login-confirmation-cancelled',
  'skipped-same-network': 'login-confirmation-skipped',
  refused: 'login-confirmation-refused',
};

/** The browser's side of a confirmation POST. */
export interface ConfirmationPost {
  /** The token the page's form carried. */
  formToken: string;
  /** The token of the browser's cookie, set with the page (SameSite=Strict: absent on a cross-site POST). */
  cookieToken: string;
  action: 'continue' | 'cancel';
  browserAddress: string;
}

export class LoginLink {
  readonly #o: LoginBrokerOptions;
  readonly #initiation: LoginInitiation;
  readonly #completion: LoginCompletion;

  constructor(options: LoginBrokerOptions, initiation: LoginInitiation, completion: LoginCompletion) {
    this.#o = options;
    this.#initiation = initiation;
    this.#completion = completion;
  }

  async #pending(linkRef: string): Promise<LoginRecord | Extract<LinkOutcome, { kind: 'gone' }>> {
    if (!LINK_REF.test(linkRef)) return { kind: 'gone', reason: 'unknown-or-expired' };
    const record = await this.#o.store.byLinkRefHash(sha256(linkRef));
    if (!record || record.expiresAt <= Date.now()) return { kind: 'gone', reason: 'unknown-or-expired' };
    if (isCancelled(record)) return { kind: 'gone', reason: 'cancelled' };
    if (record.status !== 'pending' || !record.authorizeUrl) return { kind: 'gone', reason: 'finished' };
    return record;
  }

  /**
   * The user's browser opened the login link: record it (the first time),
   * then show the confirmation page if the mode asks for it, or send the
   * browser on to the authorization server.
   */
  async openLink(linkRef: string, signal: AbortSignal, browserAddress = ''): Promise<LinkOutcome> {
    const record = await this.#pending(linkRef);
    if (!('ref' in record)) return record;
    const now = Date.now();
    // Part of the login's trace, begun by InitiateLogin.
    return tracing.inSpan('airlock.login.link', record.traceParent, () => this.#open(record, now, signal, browserAddress));
  }

  async #open(record: LoginRecord, now: number, signal: AbortSignal, browserAddress: string): Promise<LinkOutcome> {
    const firstVisit = record.browserOpenedAt === null && (await this.#o.store.markBrowserOpened(record.ref, now));
    if (firstVisit) await this.#o.bus.publish(record.ref, { type: 'browser-opened', at: new Date(now) });

    const confirmation = record.confirmation;
    const mode = this.#o.settings.loginConfirmation;
    if (confirmation && mode !== 'never') {
      if (!needsConfirmation(mode, confirmation, browserAddress)) {
        await this.#record('skipped-same-network', record, browserAddress);
      } else {
        const csrfToken = randomSecret();
        await this.#o.store.setConfirmTokenHash(record.ref, sha256(csrfToken));
        await this.#record('shown', record, browserAddress);
        return {
          kind: 'confirm',
          page: {
            appName: this.#o.settings.appName,
            startedAt: new Date(record.createdAt),
            startedFrom: describeNetwork(confirmation.initiatorAddress),
            code: confirmation.code,
            csrfToken,
            authorizationOrigin: new URL(record.authorizeUrl!).origin,
          },
        };
      }
    }
    return this.#sendOn(record, signal, confirmation !== null && mode !== 'never');
  }

  /**
   * The confirmation page's form came back. Only the page's own POST counts:
   * its token must equal the browser's cookie and the token of the page last
   * shown for this login, and is spent by the first POST. Continue sends the
   * browser on; Cancel ends the login (access denied), so the app that
   * started it gets nothing.
   */
  async confirm(linkRef: string, post: ConfirmationPost, signal: AbortSignal): Promise<LinkOutcome> {
    const record = await this.#pending(linkRef);
    if (!('ref' in record)) return record;
    return tracing.inSpan('airlock.login.confirm', record.traceParent, () => this.#confirm(record, post, signal));
  }

  async #confirm(record: LoginRecord, post: ConfirmationPost, signal: AbortSignal): Promise<LinkOutcome> {
    const valid =
      sameToken(post.formToken, post.cookieToken) &&
      tokenMatches(post.formToken, record.confirmTokenHash) &&
      (await this.#o.store.spendConfirmToken(record.ref, record.confirmTokenHash!));
    if (!valid) {
      await this.#record('refused', record, post.browserAddress);
      return {
        kind: 'refused',
        message: 'This confirmation did not come from the sign-in page it belongs to, or was already used. Open the sign-in link again.',
      };
    }
    if (post.action === 'cancel') {
      await this.#completion.decline(record.ref);
      await this.#record('cancelled', record, post.browserAddress);
      return { kind: 'declined' };
    }
    await this.#record('confirmed', record, post.browserAddress);
    return this.#sendOn(record, signal, true);
  }

  // The stored pushed request goes to the first browser sent on while it is
  // fresh. Any later one gets its own: the PDS binds a request to the first
  // browser that loads it and refuses it (access_denied) elsewhere, so a
  // link preview or a second browser must not spend the user's.
  // With `bindBrowser`, the browser also gets a token for the callback (browser-binding.ts).
  async #sendOn(record: LoginRecord, signal: AbortSignal, bindBrowser: boolean): Promise<LinkOutcome> {
    const outcome = await this.#authorizationFor(record, signal);
    if (outcome.kind !== 'redirect' || !bindBrowser) return outcome;
    const value = randomSecret();
    await this.#o.store.setBrowserTokenHash(record.ref, sha256(value));
    return { ...outcome, browserToken: { key: browserTokenKey(record.ref), value } };
  }

  async #authorizationFor(record: LoginRecord, signal: AbortSignal): Promise<LinkOutcome> {
    const now = Date.now();
    const fresh = record.authorizeUrlAt !== null && now - record.authorizeUrlAt < this.#o.settings.oauthRequestMaxAge;
    if (fresh && record.authorizeUrlClaimedAt === null && (await this.#o.store.claimAuthorizeUrl(record.ref, now))) {
      return { kind: 'redirect', url: record.authorizeUrl! };
    }
    // Each renewal costs a round trip to the PDS and a stored request: capped
    // per login, so replaying the link cannot make them without end. The
    // login stays pending; a browser that already has a request can finish.
    const limit = this.#o.settings.maxParRenewals;
    if (!(await this.#o.store.claimParRenewal(record.ref, limit))) {
      this.#o.logger.warn({ login: record.ref.slice(0, 8), limit }, 'login link opened again after its renewals were spent');
      return { kind: 'renewals-exhausted', limit };
    }
    try {
      const identifier = parseIdentifier(record.identifier, { allowHttp: this.#o.settings.allowHttp });
      const renewed = await this.#initiation.authorize(identifier, record.ref, signal);
      await this.#o.store.setAuthorizeUrl(record.ref, renewed.href, Date.now());
      this.#o.logger.info({ login: record.ref.slice(0, 8) }, 'authorization request renewed');
      return { kind: 'redirect', url: renewed.href };
    } catch (error) {
      this.#o.logger.warn({ err: error, login: record.ref.slice(0, 8) }, 'could not renew the authorization request');
      return { kind: 'error', message: error instanceof AirlockError ? error.message : 'Your sign-in could not be started.' };
    }
  }

  // For operators: the decision, the login (first 8 characters of its internal ref) and both networks, coarsely.
  async #record(decision: ConfirmationDecision, record: LoginRecord, browserAddress: string): Promise<void> {
    metrics.loginConfirmations.inc({ decision });
    const started = record.confirmation ? describeNetwork(record.confirmation.initiatorAddress) : 'unknown';
    const detail = `login ${record.ref.slice(0, 8)}; mode ${this.#o.settings.loginConfirmation}; app on ${started}; browser on ${describeNetwork(browserAddress)}`;
    await this.#o.store.audit
      .append({
        event: AUDIT_EVENTS[decision],
        actor: decision === 'shown' || decision === 'skipped-same-network' ? 'system' : 'user',
        detail,
      })
      .catch((err: unknown) => this.#o.logger.warn({ err }, 'could not write a login confirmation decision to the audit log'));
  }
}
