// What an HTTP span may show of a request's URL: the login link's ref and
// the OAuth callback's code and state are secrets, so paths become route
// templates and query values are dropped (their names stay).

/** The routes whose paths carry secrets, as the templates a span shows instead. */
export function redactedPath(path: string): string {
  const pathname = path.split('?')[0] ?? '';
  if (pathname.startsWith('/login/')) return '/login/{ref}';
  return pathname;
}

/** A query string with every value replaced: the names say enough (code, state, iss). */
export function redactedQuery(path: string): string | undefined {
  const at = path.indexOf('?');
  if (at < 0) return undefined;
  const params = new URLSearchParams(path.slice(at + 1));
  return [...new Set(params.keys())].map((name) => `${encodeURIComponent(name)}=REDACTED`).join('&');
}
