/**
 * A bounded map that drops its least recently used entry past `max`: what a per-process memo needs so a flood
 * of distinct keys cannot grow memory. A Map iterates in insertion order, so re-inserting on every hit keeps the
 * least recently used entry first.
 *
 *   const seen = new RecentlyUsed<string, Claims>(10_000);
 *   seen.set(token, claims);
 *   seen.get(token);   // and it is now the most recently used
 */
export class RecentlyUsed<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly max: number) {}

  /** The entry, now the most recently used; undefined when absent. */
  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
