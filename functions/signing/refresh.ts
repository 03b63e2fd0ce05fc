/**
 * POST /auth/refresh: exchange the refresh token for a new pair. The old refresh token stops working;
 * presenting it again revokes the whole session (it must have leaked).
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { rotateRefreshToken } from '../../shared/auth/sessions.ts';
import { TokenPair, tokenPair } from './model/token-pair.ts';

export default defineHttpFunction({
  name: 'refresh',
  domain: 'signing',
  method: 'POST',
  path: '/auth/refresh',
  auth: 'none',
  summary: 'Rotate the refresh token and get a new access token',
  body: z.object({ refreshToken: z.string().min(1).max(512) }),
  responses: { 200: TokenPair },
  problems: ['invalid-token', 'refresh-token-reused'],
  async handler({ body, deps }) {
    const rotated = await rotateRefreshToken(deps.cache, body.refreshToken, deps.bus);
    return { status: 200, body: tokenPair(deps, { ...rotated, userId: rotated.session.userId, role: rotated.session.role }) };
  },
});
