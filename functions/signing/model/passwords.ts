/**
 * Password hashing (argon2id with OWASP's minimum parameters) and the password policy.
 *
 * An unknown email is verified against a dummy hash of the same cost, so it answers in about the time a
 * wrong password does and an attacker cannot tell which emails are registered.
 *
 * Each hash takes ~19 MiB and tens of milliseconds of a libuv thread, so they run through bounded work slots
 * (ARGON2_CONCURRENCY at once, ARGON2_QUEUE waiting): a burst of logins waits briefly or gets 429,
 * and never piles up memory and latency without bound.
 *
 *   const passwords = passwordHasher(deps.config);
 *   if (!(await passwords.verify(user?.passwordHash, body.password))) …
 */
import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import type { Config } from '../../../shared/config.ts';
import { Problem } from '../../../shared/problem.ts';
import { createWorkSlots, WorkSlotsFull, type WorkSlots } from '../../../shared/work-slots.ts';

const options = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export const passwordRules = { min: 10, max: 256 } as const;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Verifies a password; with no stored hash, burns the same time and answers false. */
  verify(hash: string | undefined, password: string): Promise<boolean>;
  readonly slots: WorkSlots;
}

/**
 * One hasher per configuration, which outside tests means one per process: every function of the process shares
 * its slots. Tests that start several platforms in one process get one each.
 */
const hashers = new WeakMap<Config, PasswordHasher>();

export function passwordHasher(config: Config): PasswordHasher {
  let hasher = hashers.get(config);
  if (!hasher) {
    hasher = createPasswordHasher(createWorkSlots({ concurrency: config.ARGON2_CONCURRENCY || availableParallelism(), queue: config.ARGON2_QUEUE }));
    hashers.set(config, hasher);
  }
  return hasher;
}

/** Made once per process, outside the slots: a slot must not wait on it, and one hash is not worth bounding. */
let dummyHash: Promise<string> | undefined;

function createPasswordHasher(slots: WorkSlots): PasswordHasher {
  /** Runs argon2 work in a slot; a full queue answers 429, since the client may simply try again shortly. */
  async function inSlot<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await slots.run(work);
    } catch (error) {
      if (!(error instanceof WorkSlotsFull)) throw error;
      throw new Problem('rate-limited', 'Too many password checks in progress; try again in 1 s', { headers: { 'retry-after': '1' }, cause: error });
    }
  }

  return {
    slots,
    hash: (password) => inSlot(() => argon2.hash(password, options)),
    async verify(hash, password) {
      if (hash === undefined) {
        dummyHash ??= argon2.hash('a password nobody has, to spend the time of a real check', options);
        const dummy = await dummyHash;
        await inSlot(() => argon2.verify(dummy, password));
        return false;
      }
      return inSlot(async () => {
        try {
          return await argon2.verify(hash, password);
        } catch {
          return false;
        }
      });
    },
  };
}

/** True when a stored hash was made with other parameters and should be replaced on the next login. */
export function needsRehash(hash: string): boolean {
  return argon2.needsRehash(hash, options);
}

/** Why a password is refused, or undefined when it is acceptable. */
export function passwordWeakness(password: string, email: string): string | undefined {
  const lower = password.toLowerCase();
  const local = email.split('@')[0]?.toLowerCase() ?? '';
  if (lower === email.toLowerCase() || (local.length >= 3 && lower.includes(local))) return 'must not contain the email';
  if (new Set(password).size < 4) return 'must use at least 4 different characters';
  return undefined;
}
