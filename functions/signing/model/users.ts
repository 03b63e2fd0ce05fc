/**
 * The signing domain's users: their public shape (what every endpoint returns) and their table.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Queryable } from '../../../shared/ports/relational.ts';

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

export async function updatePasswordHash(db: Queryable, id: string, passwordHash: string): Promise<void> {
  await db.query('UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1', [id, passwordHash]);
}

/**
 * Sets the role of the user with this email (any letter case); undefined when there is none. The only way to make
 * an admin (`iotfn admin grant`): an operator who can reach the database vouches for the email, not a registration.
 */
export async function setUserRole(db: Queryable, email: string, role: Role): Promise<StoredUser | undefined> {
  const { rows } = await db.query<UserRow>(
    `UPDATE users SET role = $2, updated_at = now() WHERE lower(email) = lower($1)
     RETURNING id, email, name, role, password_hash, created_at`,
    [email, role],
  );
  return rows[0] ? fromRow(rows[0]) : undefined;
}

/** The public view: never the password hash. */
export function publicUser(user: StoredUser): User {
  return { id: user.id, email: user.email, name: user.name, role: user.role, createdAt: user.createdAt };
}
