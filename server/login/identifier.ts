// What InitiateLogin accepts as "who is signing in": a handle, a DID, or the
// URL of a PDS or entryway. Checked here, before anything is fetched.
import { isAtprotoDid } from '@atproto/did';
import { InvalidArgumentError } from '../errors.ts';

export type Identifier = { kind: 'handle'; value: string } | { kind: 'did'; value: string } | { kind: 'service'; value: string };

export const ACCEPTED =
  'identifier must be a handle (alice.bsky.social), a DID (did:plc:… or did:web:…) or the https URL of a PDS or entryway';

// https://atproto.com/specs/handle: ASCII labels, at least two, the last not starting with a digit.
const HANDLE = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_HANDLE = 253;
const MAX_URL = 2048;

export function parseIdentifier(raw: string, options: { allowHttp: boolean }): Identifier {
  const text = raw.trim();
  if (text.length === 0) throw new InvalidArgumentError(`${ACCEPTED}; it is empty`);
  if (text.length > MAX_URL) throw new InvalidArgumentError(`${ACCEPTED}; it is too long`);

  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new InvalidArgumentError(`${ACCEPTED}; "${text.slice(0, 100)}" is not a valid URL`);
    }
    if (url.protocol === 'http:' && !options.allowHttp) {
      throw new InvalidArgumentError(`${ACCEPTED}; http URLs are refused (only in development mode with allow-http)`);
    }
    if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
      throw new InvalidArgumentError(`${ACCEPTED}; a service URL is an origin only, like https://pds.example.com`);
    }
    return { kind: 'service', value: url.origin };
  }

  if (text.startsWith('did:')) {
    // The OAuth library's grammar (did:plc, did:web of a hostname), as the channel catalog uses.
    if (isAtprotoDid(text)) return { kind: 'did', value: text };
    throw new InvalidArgumentError(`${ACCEPTED}; "${text.slice(0, 100)}" is not a did:plc or did:web DID`);
  }

  const handle = text.replace(/^@/, '').toLowerCase();
  if (handle.length <= MAX_HANDLE && HANDLE.test(handle)) return { kind: 'handle', value: handle };
  throw new InvalidArgumentError(`${ACCEPTED}; "${text.slice(0, 100)}" is none of these`);
}
