/**
 * Seeded randomness for the simulator: mulberry32 (a small, fast 32-bit generator) and a hash that turns
 * (seed, device, time, channel) into a generator's seed.
 *
 * Hashing the coordinates instead of drawing from one running stream is what makes every signal a pure
 * function of its inputs: a reading does not depend on how many readings came before it, on which device
 * was scheduled first, or on whether a message was lost.
 *
 *   const next = mulberry32(42); next(); // 0 ≤ x < 1, the same sequence for the same seed
 *   uniform(42, 3, 60_000, channels.noise) // one number for seed 42, device 3, t = 60 s
 */

/** A generator of numbers in [0, 1); the same seed gives the same sequence. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes integers into one 32-bit seed (murmur3's finaliser after each part, so nearby inputs spread out). */
export function hashSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    // Times exceed 32 bits: fold the high part in rather than losing it.
    const low = part >>> 0;
    const high = Math.floor(part / 4294967296) >>> 0;
    for (const word of [low, high]) {
      h = Math.imul(h ^ word, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
    }
  }
  return h >>> 0;
}

/** One uniform number in [0, 1) for these coordinates. */
export function uniform(...parts: number[]): number {
  return mulberry32(hashSeed(...parts))();
}

/** One standard normal number for these coordinates (Box–Muller on two draws of the same generator). */
export function gaussian(...parts: number[]): number {
  const next = mulberry32(hashSeed(...parts));
  const u = 1 - next(); // (0, 1]: log(0) would be -Infinity
  const v = next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
