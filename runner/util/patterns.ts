// Name lookups by pattern for tools, resources, prompts and methods, with the shared glob meaning
// of glob.ts. Globs are compiled once; exact names go to a Map so the common case
// is one lookup.

import { globToRegExp, isGlob } from './glob.js';

/** A set of name patterns, each carrying a value; lookup returns every value whose pattern matches. */
export class PatternIndex<T> {
  private readonly exact = new Map<string, T[]>();
  private readonly globs: Array<{ re: RegExp; value: T }> = [];
  /**
   * Lookups by name, so a name seen before costs one Map get instead of every glob's regex.
   * Names come from clients: bounded, cleared when full (a flood of new names only costs the
   * regexes it would have cost anyway).
   */
  private readonly seen = new Map<string, { exact: readonly T[]; glob: readonly T[] }>();

  add(pattern: string, value: T): void {
    this.seen.clear();
    if (isGlob(pattern)) {
      this.globs.push({ re: globToRegExp(pattern), value });
      return;
    }
    const list = this.exact.get(pattern);
    if (list) list.push(value);
    else this.exact.set(pattern, [value]);
  }

  /** Every (pattern, value) pair, exact ones first. */
  *entries(): IterableIterator<T> {
    for (const list of this.exact.values()) yield* list;
    for (const g of this.globs) yield g.value;
  }

  /** Exact matches first (in insertion order), then glob matches. */
  lookup(name: string): { readonly exact: readonly T[]; readonly glob: readonly T[] } {
    const known = this.seen.get(name);
    if (known !== undefined) return known;
    const exact = this.exact.get(name) ?? EMPTY;
    const glob: T[] = [];
    for (const g of this.globs) if (g.re.test(name)) glob.push(g.value);
    const found = { exact: exact as readonly T[], glob: glob.length === 0 ? (EMPTY as readonly T[]) : glob };
    if (this.seen.size >= PatternIndex.MAX_SEEN) this.seen.clear();
    this.seen.set(name, found);
    return found;
  }

  private static readonly MAX_SEEN = 4096;
}

const EMPTY: readonly never[] = [];

/** A compiled list of globs answering "does any match". */
export class GlobSet {
  private readonly names = new Set<string>();
  private readonly res: RegExp[] = [];
  constructor(patterns: readonly string[] = []) {
    for (const p of patterns) {
      if (isGlob(p)) this.res.push(globToRegExp(p));
      else this.names.add(p);
    }
  }
  has(name: string): boolean {
    if (this.names.has(name)) return true;
    for (const re of this.res) if (re.test(name)) return true;
    return false;
  }
}
