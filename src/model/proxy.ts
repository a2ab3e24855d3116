/**
 * Which proxy a download goes through, read from the environment as curl and
 * npm read it: `https_proxy` / `HTTPS_PROXY` for https URLs, `http_proxy` /
 * `HTTP_PROXY` for http ones, and `no_proxy` / `NO_PROXY` (host names, domain
 * suffixes with or without a leading dot or `*.`, an optional `:port`, or `*`)
 * for hosts reached directly. Node 20's `fetch` reads none of them. Pure.
 */

/** The proxy for `url` and the variable that named it, or null to go directly. */
export function proxyFor(url: string, env: Readonly<Record<string, string | undefined>>): { proxy: string; variable: string } | null {
  const target = new URL(url);
  const names = target.protocol === 'https:' ? ['https_proxy', 'HTTPS_PROXY'] : target.protocol === 'http:' ? ['http_proxy', 'HTTP_PROXY'] : [];
  const variable = names.find((name) => env[name]?.trim());
  if (!variable) return null;
  if (bypassed(target, env.no_proxy ?? env.NO_PROXY ?? '')) return null;
  const proxy = (env[variable] as string).trim();
  return { proxy: /^[a-z][a-z0-9+.-]*:\/\//i.test(proxy) ? proxy : `http://${proxy}`, variable };
}

function bypassed(target: URL, noProxy: string): boolean {
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    // host, host:port, [v6]:port, or a bare IPv6 address (several colons, no port).
    const bracketed = /^\[(.*)\](?::(\d+))?$/.exec(entry);
    const [named, entryPort] = bracketed ? [bracketed[1], bracketed[2]] : entry.split(':').length === 2 ? entry.split(':') : [entry, undefined];
    const name = named.replace(/^\*?\./, '');
    if (entryPort && entryPort !== port) continue;
    if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}
