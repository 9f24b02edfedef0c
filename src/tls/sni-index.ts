// Name → value lookup for SNI, run on every TLS handshake: at most two Map lookups, no regex.
// A wildcard "*.example.com" covers exactly one label (a.example.com, not a.b.example.com nor
// example.com), and an exact name beats a wildcard.

export class SniIndex<T> {
  readonly #exact = new Map<string, T>();
  /** Keyed by what follows "*.": "example.com" for "*.example.com". */
  readonly #wildcard = new Map<string, T>();

  /** Adds or replaces the value for a name or "*." pattern. */
  set(pattern: string, value: T): void {
    const [map, key] = this.#slot(pattern);
    map.set(key, value);
  }

  /** Adds unless the name or pattern is already taken; returns whether it was added. */
  setIfAbsent(pattern: string, value: T): boolean {
    const [map, key] = this.#slot(pattern);
    if (map.has(key)) return false;
    map.set(key, value);
    return true;
  }

  /** The value stored for exactly this name or pattern, without wildcard matching. */
  peek(pattern: string): T | undefined {
    const [map, key] = this.#slot(pattern);
    return map.get(key);
  }

  /** The value serving a host name sent by a client. */
  get(servername: string): T | undefined {
    let name = servername.toLowerCase();
    // A fully qualified name with its root dot is the same host.
    if (name.endsWith(".")) name = name.slice(0, -1);
    const exact = this.#exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf(".");
    return dot > 0 ? this.#wildcard.get(name.slice(dot + 1)) : undefined;
  }

  /** Every stored pattern ("a.example.com", "*.example.com") with its value. */
  *entries(): IterableIterator<[string, T]> {
    yield* this.#exact.entries();
    for (const [suffix, value] of this.#wildcard) yield [`*.${suffix}`, value];
  }

  #slot(pattern: string): [Map<string, T>, string] {
    const name = pattern.toLowerCase();
    return name.startsWith("*.") ? [this.#wildcard, name.slice(2)] : [this.#exact, name];
  }
}
