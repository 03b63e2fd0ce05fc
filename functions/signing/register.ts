/**
 * POST /auth/register: create an account. Emails are unique ignoring letter case. Every account is a plain user:
 * admins are granted out of band (`iotfn admin grant`), never by registering. Registrations are limited per client
 * address, each reserving its place before its password is hashed.
 *
 * It answers the new user in the shape GET /auth/me answers one: a bare User. Release 0.1 answered `{ user }`;
 * that copy stays beside the fields, deprecated, for one release, so a client written against 0.1 keeps working.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { hashesPasswords } from '../../shared/deploy-policy.ts';
import { Problem } from '../../shared/problem.ts';
import { passwordHasher, passwordRules, passwordWeakness } from './model/passwords.ts';
import { insertUser, publicUser, User } from './model/users.ts';
import { reserveAttempt } from './model/attempts.ts';

const Body = z
  .object({
    email: z.email().trim().max(254),
    password: z.string().min(passwordRules.min).max(passwordRules.max),
    name: z.string().trim().min(1).max(200).optional(),
  })
  .superRefine((body, ctx) => {
    const weakness = passwordWeakness(body.password, body.email);
    if (weakness) ctx.addIssue({ code: 'custom', path: ['password'], message: weakness });
  });

export default defineHttpFunction({
  name: 'register',
  domain: 'signing',
  deploy: hashesPasswords,
  method: 'POST',
  path: '/auth/register',
  auth: 'none',
  summary: 'Register a user',
  description: `Passwords have ${passwordRules.min} to ${passwordRules.max} characters and must not contain the email.`,
  body: Body,
  responses: {
    201: User.extend({
      user: User.meta({ deprecated: true, description: 'Deprecated: the same user, where release 0.1 put it; read the fields beside it. Removed in the next release.' }),
    }),
  },
  problems: ['email-taken', 'rate-limited'],
  async handler({ body, request, deps }) {
    const { cache, config } = deps;
    const limit = { key: `register:address:${request.ip}`, max: config.REGISTER_MAX_PER_ADDRESS, windowMs: config.REGISTER_WINDOW_SECONDS * 1000 };
    const attempt = await reserveAttempt(cache, [limit], 'registrations from this address');

    let user;
    try {
      const passwordHash = await passwordHasher(config).hash(body.password);
      user = await insertUser(deps.db, { email: body.email, name: body.name, role: 'user', passwordHash });
    } catch (error) {
      // Nothing was registered (the hash queue was full, or the database failed): the attempt does not count.
      await attempt.giveBack();
      throw error;
    }
    // A taken email still counts: it cost a hash, and answers whether the email has an account.
    if (!user) throw new Problem('email-taken', `An account for ${body.email} already exists`);
    const registered = publicUser(user);
    return { status: 201, body: { ...registered, user: registered } };
  },
});
