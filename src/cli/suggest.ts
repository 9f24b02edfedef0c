// "Did you mean …?" for a misspelled command, option, config key or name: the closest candidates
// within an edit distance of 2. The distance is Levenshtein's with one more edit, swapping two
// adjacent characters (optimal string alignment), so "stauts" is 1 from "status", not 2.

/** Insertions, deletions, substitutions and adjacent swaps each cost 1. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      row[j] = best;
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/**
 * The candidates closest to `word` (compared case-insensitively) within `maxDistance`, in their given
 * order; empty when none is close enough or `word` is itself a candidate. A candidate must keep at
 * least one character of the word: every 2-letter word is 2 edits from every other.
 */
export function closestAll(word: string, candidates: Iterable<string>, maxDistance = 2): string[] {
  const wanted = word.toLowerCase();
  let best: string[] = [];
  let bestDistance = maxDistance + 1;
  for (const candidate of new Set(candidates)) {
    if (candidate === word) return [];
    const distance = editDistance(wanted, candidate.toLowerCase());
    if (distance >= Math.max(word.length, candidate.length)) continue;
    if (distance < bestDistance) {
      best = [candidate];
      bestDistance = distance;
    } else if (distance === bestDistance) {
      best.push(candidate);
    }
  }
  return best;
}

/** The single closest candidate, or undefined when there is none or several tie. */
export function closest(word: string, candidates: Iterable<string>, maxDistance = 2): string | undefined {
  const found = closestAll(word, candidates, maxDistance);
  return found.length === 1 ? found[0] : undefined;
}

/** ` (did you mean "X"?)`, ` (did you mean "X" or "Y"?)`, or "" when nothing is close enough. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const found = closestAll(word, candidates).slice(0, 3);
  if (found.length === 0) return "";
  const quoted = found.map((name) => `"${name}"`);
  return ` (did you mean ${quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}`}?)`;
}
