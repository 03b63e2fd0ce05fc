/**
 * What login and refresh both answer: a short-lived access token and the session's current refresh token.
 */
import { z } from 'zod';
import type { Deps } from '../../../shared/platform.ts';
import { signAccessToken } from '../../../shared/auth/tokens.ts';

export const TokenPair = z
  .object({
    accessToken: z.string(),
    refreshToken: z.string(),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number().int().describe('Seconds until the access token expires'),
  });
export type TokenPair = z.output<typeof TokenPair>;

export function tokenPair(deps: Deps, session: { sessionId: string; refreshToken: string; userId: string; role: 'user' | 'admin' }): TokenPair {
  if (!deps.signing) throw new Error('This process has no signing key (set JWT_PRIVATE_KEY)');
  const accessToken = signAccessToken(deps.signing.key, deps.signing.settings, { sub: session.userId, sid: session.sessionId, role: session.role });
  return { accessToken, refreshToken: session.refreshToken, tokenType: 'Bearer', expiresIn: deps.signing.settings.accessTtlSeconds };
}
