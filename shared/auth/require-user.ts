/**
 * `requireUser`: the check every user-facing function runs before its handler (the harness calls it for
 * functions declared with `auth: 'user'`). A Bearer access token must verify (signature, `alg` pinned,
 * `exp`, issuer, audience) and its session must not be revoked.
 */
import type { Caller } from '../function.ts';
import type { Deps } from '../platform.ts';
import { Problem } from '../problem.ts';
import { isSessionActive } from './sessions.ts';

const challenge = { 'WWW-Authenticate': 'Bearer' };

export async function requireUser(authorization: string | undefined, deps: Pick<Deps, 'verifier' | 'cache'>): Promise<Caller> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match?.[1]) {
    throw new Problem('unauthenticated', 'Send an access token: Authorization: Bearer <token>', { headers: challenge });
  }
  let claims;
  try {
    claims = await deps.verifier.verify(match[1]);
  } catch (error) {
    if (error instanceof Problem) throw new Problem(error.kind, error.message, { headers: { ...challenge, ...error.headers } });
    throw error;
  }
  if (!(await isSessionActive(deps.cache, claims.sid))) {
    throw new Problem('invalid-token', 'The session of this token has ended (logged out or revoked)', { headers: challenge });
  }
  return { userId: claims.sub, role: claims.role, sessionId: claims.sid, expiresAt: claims.exp * 1000 };
}
