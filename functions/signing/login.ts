/**
 * POST /auth/login: exchange email and password for an access and a refresh token.
 * Failed attempts are limited per account and per client address; an unknown email and a wrong password
 * get the same answer in about the same time.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { startSession } from '../../shared/auth/sessions.ts';
import { hashPassword, needsRehash, verifyPassword } from './model/passwords.ts';
import { findUserByEmail, updatePasswordHash } from './model/users.ts';
import { TokenPair, tokenPair } from './model/token-pair.ts';

const Body = z.object({
  email: z.string().trim().min(1).max(254),
  password: z.string().min(1).max(1024),
});

export default defineHttpFunction({
  name: 'login',
  domain: 'signing',
  method: 'POST',
  path: '/auth/login',
  auth: 'none',
  summary: 'Log in with email and password',
  body: Body,
  responses: { 200: TokenPair },
  problems: ['invalid-credentials', 'rate-limited'],
  async handler({ body, request, deps }) {
    const { cache, config } = deps;
    const windowMs = config.LOGIN_WINDOW_SECONDS * 1000;
    const counters = [
      { key: `login-failures:account:${body.email.toLowerCase()}`, max: config.LOGIN_MAX_PER_ACCOUNT },
      { key: `login-failures:address:${request.ip}`, max: config.LOGIN_MAX_PER_ADDRESS },
    ];
    const counts = await cache.getMany(counters.map((c) => c.key));
    for (const [i, counter] of counters.entries()) {
      if (Number(counts[i] ?? 0) >= counter.max) {
        const retryAfter = Math.max(1, Math.ceil(((await cache.ttl(counter.key)) ?? windowMs) / 1000));
        throw new Problem('rate-limited', `Too many failed logins; try again in ${retryAfter} s`, { headers: { 'retry-after': String(retryAfter) } });
      }
    }

    const user = await findUserByEmail(deps.db, body.email);
    if (!(await verifyPassword(user?.passwordHash, body.password)) || !user) {
      await Promise.all(counters.map((c) => cache.hit(c.key, windowMs)));
      throw new Problem('invalid-credentials', 'Email or password is wrong');
    }
    await cache.del(counters[0]!.key);
    if (needsRehash(user.passwordHash)) await updatePasswordHash(deps.db, user.id, await hashPassword(body.password));

    const session = await startSession(cache, { userId: user.id, role: user.role }, config.REFRESH_TOKEN_TTL_SECONDS);
    return { status: 200, body: tokenPair(deps, { ...session, userId: user.id, role: user.role }) };
  },
});
