// Routes compiled once per config load into maps, so matching a request is two Map lookups and a short
// scan of prefixes (longest first). Rules (DESIGN.md): an exact host beats a "*." wildcard, a route
// without host matches every host, prefixes match on segment boundaries ("/v1" never matches "/v1x").

export interface RouteMatcher {
  readonly host?: string | undefined;
  readonly pathPrefix: string;
  readonly methods?: readonly string[] | undefined;
}

interface Candidate<R> {
  readonly route: R;
  readonly pathPrefix: string;
  readonly methods: ReadonlySet<string> | undefined;
}

export class RouteTable<R extends { readonly match: RouteMatcher }> {
  readonly #exact = new Map<string, Candidate<R>[]>();
  /** Keyed by the suffix after "*.": "*.example.com" → "example.com"; one label is covered. */
  readonly #wildcard = new Map<string, Candidate<R>[]>();
  readonly #anyHost: Candidate<R>[] = [];

  constructor(routes: readonly R[]) {
    for (const route of routes) {
      const candidate: Candidate<R> = {
        route,
        pathPrefix: route.match.pathPrefix,
        methods: route.match.methods ? new Set(route.match.methods) : undefined,
      };
      const host = route.match.host;
      if (host === undefined) this.#anyHost.push(candidate);
      else if (host.startsWith("*.")) pushTo(this.#wildcard, host.slice(2), candidate);
      else pushTo(this.#exact, host, candidate);
    }
    // Longest prefix first; a stable sort keeps file order between equal prefixes.
    const byLength = (a: Candidate<R>, b: Candidate<R>) => b.pathPrefix.length - a.pathPrefix.length;
    for (const list of [...this.#exact.values(), ...this.#wildcard.values(), this.#anyHost]) list.sort(byLength);
  }

  match(host: string, path: string, method: string): R | undefined {
    return (
      findIn(this.#exact.get(host), path, method) ??
      findIn(this.#wildcard.get(parentDomain(host)), path, method) ??
      findIn(this.#anyHost, path, method)
    );
  }

  /** True when a route names this host explicitly (exactly or by wildcard), used for absolute-form targets. */
  namesHost(host: string): boolean {
    return this.#exact.has(host) || this.#wildcard.has(parentDomain(host));
  }

  /** Exact host names, e.g. the names a self-signed or ACME certificate should cover. */
  exactHosts(): string[] {
    return [...this.#exact.keys()];
  }
}

function pushTo<R>(map: Map<string, Candidate<R>[]>, key: string, candidate: Candidate<R>): void {
  const list = map.get(key);
  if (list) list.push(candidate);
  else map.set(key, [candidate]);
}

function parentDomain(host: string): string {
  const dot = host.indexOf(".");
  return dot === -1 ? "" : host.slice(dot + 1);
}

function findIn<R>(candidates: readonly Candidate<R>[] | undefined, path: string, method: string): R | undefined {
  if (candidates === undefined) return undefined;
  for (const candidate of candidates) {
    if (!prefixMatches(candidate.pathPrefix, path)) continue;
    if (candidate.methods !== undefined && !candidate.methods.has(method)) continue;
    return candidate.route;
  }
  return undefined;
}

export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === "/") return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47 /* "/" */;
}
