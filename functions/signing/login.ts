/**
 * POST /auth/login: exchange email and password for an access and a refresh token.
 * Failed attempts are limited per account and per client address; an unknown email and a wrong password
 * get the same answer in about the same time. Each attempt reserves its place under both limits before the
 * password is checked, so parallel guesses cannot get more checks than the limits allow.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { hashesPasswords } from '../../shared/deploy-policy.ts';
import { Problem } from '../../shared/problem.ts';
import { startSession } from '../../shared/auth/sessions.ts';
import { needsRehash, passwordHasher } from './model/passwords.ts';
import { findUserByEmail, updatePasswordHash } from './model/users.ts';
import { TokenPair, tokenPair } from './model/token-pair.ts';
import { reserveAttempt } from './model/attempts.ts';

const Body = z.object({
  email: z.string().trim().min(1).max(254),
  password: z.string().min(1).max(1024),
});

export default defineHttpFunction({
  name: 'login',
  domain: 'signing',
  deploy: hashesPasswords,
  method: 'POST',
  path: '/auth/login',
  auth: 'none',
  summary: 'Log in with email and password',
  body: Body,
  responses: { 200: TokenPair },
  problems: ['invalid-credentials', 'rate-limited'],
  async handler({ body, request, deps }) {
    const { cache, config } = deps;
    const passwords = passwordHasher(config);
    const windowMs = config.LOGIN_WINDOW_SECONDS * 1000;
    const account = { key: `login-failures:account:${body.email.toLowerCase()}`, max: config.LOGIN_MAX_PER_ACCOUNT, windowMs };
    const address = { key: `login-failures:address:${request.ip}`, max: config.LOGIN_MAX_PER_ADDRESS, windowMs };
    const attempt = await reserveAttempt(cache, [account, address], 'failed logins');

    let user;
    let valid;
    try {
      user = await findUserByEmail(deps.db, body.email);
      valid = (await passwords.verify(user?.passwordHash, body.password)) && user !== undefined;
    } catch (error) {
      // No password was checked (the hash queue was full, or the database failed): the attempt does not count.
      await attempt.giveBack();
      throw error;
    }
    // A failure keeps its reservations: they are what the limits count.
    if (!valid || !user) throw new Problem('invalid-credentials', 'Email or password is wrong');
    await Promise.all([cache.del(account.key), attempt.giveBack([address])]);
    if (needsRehash(user.passwordHash)) await rehash(user.id);

    const session = await startSession(cache, { userId: user.id, role: user.role }, config.REFRESH_TOKEN_TTL_SECONDS);
    return { status: 200, body: tokenPair(deps, { ...session, userId: user.id, role: user.role }) };

    /** Best effort: with every hash slot busy the old hash still works, and the next login tries again. */
    async function rehash(userId: string) {
      let hash;
      try {
        hash = await passwords.hash(body.password);
      } catch (error) {
        if (error instanceof Problem && error.kind === 'rate-limited') return;
        throw error;
      }
      await updatePasswordHash(deps.db, userId, hash);
    }
  },
});
