/** POST /auth/register: create an account. Emails are unique ignoring letter case. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { hashPassword, passwordRules, passwordWeakness } from './model/passwords.ts';
import { insertUser, publicUser, User } from './model/users.ts';

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
  method: 'POST',
  path: '/auth/register',
  auth: 'none',
  summary: 'Register a user',
  description: `Passwords have ${passwordRules.min} to ${passwordRules.max} characters and must not contain the email.`,
  body: Body,
  responses: { 201: z.object({ user: User }) },
  problems: ['email-taken'],
  async handler({ body, deps }) {
    const role = deps.config.ADMIN_EMAILS.some((e) => e.toLowerCase() === body.email.toLowerCase()) ? 'admin' : 'user';
    const user = await insertUser(deps.db, { email: body.email, name: body.name, role, passwordHash: await hashPassword(body.password) });
    if (!user) throw new Problem('email-taken', `An account for ${body.email} already exists`);
    return { status: 201, body: { user: publicUser(user) } };
  },
});
