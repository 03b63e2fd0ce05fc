/** GET /auth/me: the user the access token speaks for (remembered briefly per process; see model/users.ts). */
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { findPublicUserById, User } from './model/users.ts';

export default defineHttpFunction({
  name: 'me',
  domain: 'signing',
  method: 'GET',
  path: '/auth/me',
  auth: 'user',
  summary: 'The current user',
  responses: { 200: User },
  problems: ['invalid-token'],
  async handler({ user, deps }) {
    const found = await findPublicUserById(deps.db, deps.cache, user.userId);
    if (!found) throw new Problem('invalid-token', 'The user of this token no longer exists');
    return { status: 200, body: found };
  },
});
