// A route's weighted split across services (NGINX's split_clients, Traefik's weighted round robin):
// the sides in config order, and their weights, which a rollout may move at run time. Picking a side is
// a walk over cumulative weights with one number in [0, 1): random, or a hash of what the stickiness keys
// on (the client IP, a header), so one client lands on one side while the weights hold.

/**
 * FNV-1a over a string, then murmur3's finalizer, as a number in [0, 1): an even spread for keys such as
 * IPs and user ids. The finalizer matters: FNV-1a alone moves the high bits little for keys that differ in
 * their last characters ("user-17", "user-18"), and the high bits are what picks the side (a test over
 * 2,000 sequential ids put 24% on a 20% side without it).
 */
export function hashToUnit(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) / 4294967296;
}

export class SplitWeights {
  readonly #weights: number[];
  readonly #configured: readonly number[];
  #total: number;

  constructor(
    readonly names: readonly string[],
    weights: readonly number[],
  ) {
    this.#configured = Object.freeze([...weights]);
    this.#weights = [...weights];
    this.#total = this.#weights.reduce((sum, weight) => sum + weight, 0);
  }

  weightOf(index: number): number {
    return this.#weights[index] ?? 0;
  }

  /** The weight the config gave the side (a rollout moves weights between two of these). */
  configured(index: number): number {
    return this.#configured[index] ?? 0;
  }

  indexOf(name: string): number {
    return this.names.indexOf(name);
  }

  /** Moves one side's weight (a rollout step); the others keep theirs. */
  set(name: string, weight: number): void {
    const index = this.names.indexOf(name);
    if (index === -1) return;
    this.#weights[index] = weight;
    this.#total = this.#weights.reduce((sum, value) => sum + value, 0);
  }

  /** The side a number in [0, 1) falls on; with every weight 0, the first side. */
  pick(unit: number): number {
    let remaining = unit * this.#total;
    const weights = this.#weights;
    for (let i = 0; i < weights.length; i++) {
      remaining -= weights[i]!;
      if (remaining < 0) return i;
    }
    return 0;
  }
}

/**
 * The live weights of every split route, kept across reloads: a reload that leaves a route's split as it
 * was keeps the weights a rollout has moved; one that changes it starts from the config's weights.
 */
export class SplitRegistry {
  readonly #routes = new Map<string, { readonly key: string; readonly weights: SplitWeights }>();

  weightsFor(routeName: string, configured: readonly (readonly [name: string, weight: number])[]): SplitWeights {
    const key = JSON.stringify(configured);
    const existing = this.#routes.get(routeName);
    if (existing !== undefined && existing.key === key) return existing.weights;
    const weights = new SplitWeights(
      configured.map(([name]) => name),
      configured.map(([, weight]) => weight),
    );
    this.#routes.set(routeName, { key, weights });
    return weights;
  }

  /** Drops routes a new config no longer splits. */
  retainOnly(routeNames: ReadonlySet<string>): void {
    for (const name of this.#routes.keys()) if (!routeNames.has(name)) this.#routes.delete(name);
  }

  /** Every split route with its weights, for rampart_route_split_weight. */
  entries(): IterableIterator<[string, { readonly weights: SplitWeights }]> {
    return this.#routes.entries();
  }
}
