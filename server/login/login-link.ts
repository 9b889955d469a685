// The login link (/login/<ref>): the browser's first visit is recorded and
// announced, and the browser is sent on to the authorization server with a
// pushed request it can still use.
import { AirlockError } from '../errors.ts';
import { tracing } from '../observability/tracing.ts';
import { parseIdentifier } from './identifier.ts';
import type { LoginInitiation } from './login-initiation.ts';
import type { LoginRecord } from './login-store.ts';
import { isCancelled, type LinkOutcome, type LoginBrokerOptions } from './login-types.ts';
import { sha256 } from './secrets.ts';

const LINK_REF = /^[A-Za-z0-9_-]{43}$/;

export class LoginLink {
  readonly #o: LoginBrokerOptions;
  readonly #initiation: LoginInitiation;

  constructor(options: LoginBrokerOptions, initiation: LoginInitiation) {
    this.#o = options;
    this.#initiation = initiation;
  }

  /**
   * The user's browser opened the login link: record it (the first time),
   * and send the browser on to the authorization server, renewing the pushed
   * request first if the PDS may have forgotten it.
   */
  async openLink(linkRef: string, signal: AbortSignal): Promise<LinkOutcome> {
    if (!LINK_REF.test(linkRef)) return { kind: 'gone', reason: 'unknown-or-expired' };
    const record = await this.#o.store.byLinkRefHash(sha256(linkRef));
    const now = Date.now();
    if (!record || record.expiresAt <= now) return { kind: 'gone', reason: 'unknown-or-expired' };
    if (isCancelled(record)) return { kind: 'gone', reason: 'cancelled' };
    if (record.status !== 'pending' || !record.authorizeUrl) return { kind: 'gone', reason: 'finished' };
    // Part of the login's trace, begun by InitiateLogin.
    const authorizeUrl = record.authorizeUrl;
    return tracing.inSpan('airlock.login.link', record.traceParent, () => this.#open(record, authorizeUrl, now, signal));
  }

  async #open(record: LoginRecord, authorizeUrl: string, now: number, signal: AbortSignal): Promise<LinkOutcome> {
    const firstVisit = record.browserOpenedAt === null && (await this.#o.store.markBrowserOpened(record.ref, now));
    if (firstVisit) await this.#o.bus.publish(record.ref, { type: 'browser-opened', at: new Date(now) });
    // The first visit uses the request pushed by InitiateLogin while it is
    // fresh. Any later visit gets its own: the PDS binds a request to the
    // first browser that loads it and refuses it (access_denied) elsewhere,
    // so a link preview or a second browser must not spend the user's.
    if (firstVisit && record.authorizeUrlAt !== null && now - record.authorizeUrlAt < this.#o.settings.oauthRequestMaxAge) {
      return { kind: 'redirect', url: authorizeUrl };
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
      const fresh = await this.#initiation.authorize(identifier, record.ref, signal);
      await this.#o.store.setAuthorizeUrl(record.ref, fresh.href, Date.now());
      this.#o.logger.info({ login: record.ref.slice(0, 8) }, 'authorization request renewed');
      return { kind: 'redirect', url: fresh.href };
    } catch (error) {
      this.#o.logger.warn({ err: error, login: record.ref.slice(0, 8) }, 'could not renew the authorization request');
      return { kind: 'error', message: error instanceof AirlockError ? error.message : 'Your sign-in could not be started.' };
    }
  }
}
