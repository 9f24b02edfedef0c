// Maps a config path such as ["routes", 2, "service"] back to a line and column in the YAML source.
import { isAlias, isMap, isNode, isScalar, isSeq, type Document, type LineCounter, type Pair } from "yaml";
import type { PathKey } from "./interpolate.js";

export interface Position {
  readonly line: number;
  readonly col: number;
}

interface Place {
  /** Where the key starts (for a list item: the item itself). */
  readonly start: number;
  readonly value: unknown;
}

const START: Position = { line: 1, col: 1 };

export class Locator {
  readonly #doc: Document;
  readonly #lines: LineCounter;

  constructor(doc: Document, lines: LineCounter) {
    this.#doc = doc;
    this.#lines = lines;
  }

  offset(offset: number): Position {
    return this.#lines.linePos(offset);
  }

  has(path: readonly PathKey[]): boolean {
    return path.length === 0 || this.#find(path) !== undefined;
  }

  /** The key's own line; for a key that is not in the file, the nearest parent that is. */
  key(path: readonly PathKey[]): Position {
    for (let depth = path.length; depth > 0; depth--) {
      const place = this.#find(path.slice(0, depth));
      if (place) return this.offset(place.start);
    }
    return START;
  }

  /** Like key(), but a scalar written on the key's line is pointed at directly (`service: apii` → `apii`). */
  value(path: readonly PathKey[]): Position {
    const place = path.length > 0 ? this.#find(path) : undefined;
    const value = place?.value;
    if (place && isScalar(value) && value.value !== null && value.range) {
      const at = this.offset(value.range[0]);
      if (at.line === this.offset(place.start).line) return at;
    }
    return this.key(path);
  }

  /** The deepest path whose key or item spans the offset; names the location of YAML syntax errors. */
  pathAt(offset: number): PathKey[] {
    const path: PathKey[] = [];
    let node = this.#deref(this.#doc.contents);
    for (;;) {
      if (isMap(node)) {
        const pair = node.items.find((item) => spans(pairRange(item), offset));
        if (!pair) break;
        path.push(keyName(pair.key));
        node = this.#deref(pair.value);
      } else if (isSeq(node)) {
        const index = node.items.findIndex((item) => isNode(item) && spans(item.range, offset));
        if (index < 0) break;
        path.push(index);
        node = this.#deref(node.items[index]);
      } else {
        break;
      }
    }
    return path;
  }

  #find(path: readonly PathKey[]): Place | undefined {
    let node = this.#deref(this.#doc.contents);
    let place: Place | undefined;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((item) => keyName(item.key) === String(key));
        const start = pair && (startOf(pair.key) ?? startOf(pair.value));
        if (start === undefined) return undefined;
        place = { start, value: pair?.value };
        node = this.#deref(pair?.value);
      } else if (isSeq(node) && typeof key === "number") {
        const item: unknown = node.items[key];
        const start = startOf(item);
        if (start === undefined) return undefined;
        place = { start, value: item };
        node = this.#deref(item);
      } else {
        return undefined;
      }
    }
    return place;
  }

  #deref(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.#doc) : node;
  }
}

function keyName(key: unknown): string {
  return String(isScalar(key) ? key.value : key);
}

function startOf(node: unknown): number | undefined {
  return isNode(node) ? node.range?.[0] : undefined;
}

function pairRange(pair: Pair): readonly [number, number, number] | undefined {
  const start = startOf(pair.key) ?? startOf(pair.value);
  const end = isNode(pair.value) ? pair.value.range?.[2] : isNode(pair.key) ? pair.key.range?.[2] : undefined;
  return start === undefined || end === undefined ? undefined : [start, end, end];
}

function spans(range: readonly [number, number, number] | null | undefined, offset: number): boolean {
  return range != null && offset >= range[0] && offset < range[2];
}
