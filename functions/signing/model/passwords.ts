/**
 * Password hashing (argon2id with OWASP's minimum parameters) and the password policy.
 *
 * An unknown email is verified against a dummy hash of the same cost, so it answers in about the time a
 * wrong password does and an attacker cannot tell which emails are registered.
 */
import argon2 from 'argon2';

const options = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export const passwordRules = { min: 10, max: 256 } as const;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, options);
}

let dummyHash: Promise<string> | undefined;

/** Verifies a password; with no stored hash, burns the same time and answers false. */
export async function verifyPassword(hash: string | undefined, password: string): Promise<boolean> {
  if (hash === undefined) {
    dummyHash ??= argon2.hash('a password nobody has, to spend the time of a real check', options);
    await argon2.verify(await dummyHash, password);
    return false;
  }
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
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
