/**
 * POST /auth/refresh: exchange the refresh token for a new pair. The old refresh token stops working;
 * presenting it again revokes the whole session (it must have leaked). Exchanges are limited per client address.
 * The new access token carries the user's role as the database has it now, so a role granted or revoked with
 * `iotfn admin` reaches a session at its next refresh rather than at its end.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { rotateRefreshToken } from '../../shared/auth/sessions.ts';
import { TokenPair, tokenPair } from './model/token-pair.ts';
import { findUserById } from './model/users.ts';
import { reserveAttempt } from './model/attempts.ts';

export default defineHttpFunction({
  name: 'refresh',
  domain: 'signing',
  method: 'POST',
  path: '/auth/refresh',
  auth: 'none',
  summary: 'Rotate the refresh token and get a new access token',
  body: z.object({ refreshToken: z.string().min(1).max(512) }),
  responses: { 200: TokenPair },
  problems: ['invalid-token', 'refresh-token-reused', 'rate-limited'],
  async handler({ body, request, deps }) {
    const { cache, config } = deps;
    const limit = { key: `refresh:address:${request.ip}`, max: config.REFRESH_MAX_PER_ADDRESS, windowMs: config.REFRESH_WINDOW_SECONDS * 1000 };
    await reserveAttempt(cache, [limit], 'token refreshes from this address');

    const rotated = await rotateRefreshToken(cache, body.refreshToken, deps.bus);
    const user = await findUserById(deps.db, rotated.session.userId);
    if (!user) throw new Problem('invalid-token', 'The user of this session no longer exists');
    return { status: 200, body: tokenPair(deps, { ...rotated, userId: user.id, role: user.role }) };
  },
});
