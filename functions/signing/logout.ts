/** POST /auth/logout: end the session; its access and refresh tokens are refused from now on. */
import { defineHttpFunction } from '../../shared/function.ts';
import { endSession } from '../../shared/auth/sessions.ts';

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
    return { status: 204 };
  },
});
