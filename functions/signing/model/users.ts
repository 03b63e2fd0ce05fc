/**
 * The signing domain's users: their public shape (what every endpoint returns) and their table.
 *
 * `GET /auth/me` reads the public user on every call, so each process remembers it briefly (USER_MEMO_MS); every
 * change to what it shows (`setUserRole`) is published so every process forgets it at once.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Queryable } from '../../../shared/ports/relational.ts';
import type { Cache } from '../../../shared/ports/cache.ts';
import { pushedMemo } from '../../../shared/auth/pushed-memo.ts';

export const Role = z.enum(['user', 'admin']);
export type Role = z.output<typeof Role>;

export const User = z
  .object({
    id: z.uuid(),
    email: z.email(),
    name: z.string().nullable(),
    role: Role,
    createdAt: z.iso.datetime(),
  });
export type User = z.output<typeof User>;

interface UserRow {
  id: string;
  email: string;
  name: string | null;
  role: 'user' | 'admin';
  password_hash: string;
  created_at: Date;
}

export interface StoredUser extends User {
  passwordHash: string;
}

function fromRow(row: UserRow): StoredUser {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    createdAt: row.created_at.toISOString(),
    passwordHash: row.password_hash,
  };
}

/** Inserts a user; returns undefined when the email is taken in any letter case. */
export async function insertUser(
  db: Queryable,
  user: { email: string; name?: string | undefined; role: 'user' | 'admin'; passwordHash: string },
): Promise<StoredUser | undefined> {
  const { rows } = await db.query<UserRow>(
    `INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT ((lower(email))) DO NOTHING
     RETURNING id, email, name, role, password_hash, created_at`,
    [randomUUID(), user.email, user.name ?? null, user.role, user.passwordHash],
  );
  return rows[0] ? fromRow(rows[0]) : undefined;
}

export async function findUserByEmail(db: Queryable, email: string): Promise<StoredUser | undefined> {
  const { rows } = await db.query<UserRow>(
    'SELECT id, email, name, role, password_hash, created_at FROM users WHERE lower(email) = lower($1)',
    [email],
  );
  return rows[0] ? fromRow(rows[0]) : undefined;
}

export async function findUserById(db: Queryable, id: string): Promise<StoredUser | undefined> {
  const { rows } = await db.query<UserRow>('SELECT id, email, name, role, password_hash, created_at FROM users WHERE id = $1', [id]);
  return rows[0] ? fromRow(rows[0]) : undefined;
}

/** The channel on which the id of every user whose public view changed is published. */
export const USERS_CHANGED_CHANNEL = 'auth:users-changed';
/**
 * How long a process shows a remembered user without reading the table. Changes are pushed, so this bounds only
 * changes made behind the code's back (SQL by hand); 10 s keeps that short while nearly every `me` is a hit.
 */
export const USER_MEMO_MS = 10_000;
/** Public users are a few hundred bytes: 10,000 is a few MB. */
export const USER_MEMO_ENTRIES = 10_000;

const publicUsers = (cache: Cache) =>
  pushedMemo<User | undefined>(cache, USERS_CHANGED_CHANNEL, { name: 'users', ttlMs: USER_MEMO_MS, maxEntries: USER_MEMO_ENTRIES });

/** The public view of a user by id, as remembered by this process; a missing user is never remembered. */
export async function findPublicUserById(db: Queryable, cache: Cache, id: string): Promise<User | undefined> {
  return publicUsers(cache).read(
    id,
    async () => {
      const user = await findUserById(db, id);
      // Frozen: every request until it is forgotten gets this same object.
      return user ? Object.freeze(publicUser(user)) : undefined;
    },
    (user) => (user ? USER_MEMO_MS : 0),
  );
}

/** The password hash is not in the public view, so changing it invalidates nothing. */
export async function updatePasswordHash(db: Queryable, id: string, passwordHash: string): Promise<void> {
  await db.query('UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1', [id, passwordHash]);
}

/**
 * Sets the role of the user with this email (any letter case); undefined when there is none. The only way to make
 * an admin (`iotfn admin grant`): an operator who can reach the database vouches for the email, not a registration.
 * Pass the platform's cache so every process forgets the user it remembers; without it they show the old role for up
 * to USER_MEMO_MS.
 */
export async function setUserRole(db: Queryable, email: string, role: Role, cache?: Cache): Promise<StoredUser | undefined> {
  const { rows } = await db.query<UserRow>(
    `UPDATE users SET role = $2, updated_at = now() WHERE lower(email) = lower($1)
     RETURNING id, email, name, role, password_hash, created_at`,
    [email, role],
  );
  const user = rows[0] ? fromRow(rows[0]) : undefined;
  if (user && cache) await publicUsers(cache).invalidate(user.id);
  return user;
}

/** The public view: never the password hash. */
export function publicUser(user: StoredUser): User {
  return { id: user.id, email: user.email, name: user.name, role: user.role, createdAt: user.createdAt };
}
