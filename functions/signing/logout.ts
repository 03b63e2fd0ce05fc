/** POST /auth/logout: end the session; its access and refresh tokens are refused from now on. */
import { defineHttpFunction } from '../../shared/function.ts';
import { announceSessionEnded, endSession } from '../../shared/auth/sessions.ts';

export default defineHttpFunction({
  name: 'logout',
  domain: 'signing',
  method: 'POST',
  path: '/auth/logout',
  auth: 'user',
  summary: 'Log out: revoke the session of this access token',
  responses: { 204: null },
  async handler({ user, deps }) {
    await endSession(deps.cache, user.sessionId);
    // Open sockets close at once; should the bus miss it, the relay's sweep and the token's expiry still do.
    await announceSessionEnded(deps.bus, { sessionId: user.sessionId, userId: user.userId, reason: 'logout' }).catch((error: unknown) =>
      deps.log.warn({ err: error }, 'session.ended could not be announced'),
    );
    return { status: 204 };
  },
});
