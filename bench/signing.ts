/**
 * The bench user, made through the public API like any client would: register a random account, log in
 * for a token, and check `GET /auth/me` answers for it before any load is aimed at it, so a figure is
 * never a measurement of 401s.
 */
import { randomBytes } from 'node:crypto';

export interface Credentials {
  email: string;
  password: string;
}

export async function registerBenchUser(baseUrl: string): Promise<Credentials> {
  const credentials = { email: `bench-${randomBytes(6).toString('hex')}@example.com`, password: 'bench password 12345' };
  await call(baseUrl, 'POST', '/auth/register', 201, credentials);
  return credentials;
}

export async function logIn(baseUrl: string, credentials: Credentials): Promise<string> {
  const body = await call(baseUrl, 'POST', '/auth/login', 200, credentials);
  const token = (body as { accessToken?: unknown }).accessToken;
  if (typeof token !== 'string') throw new Error('POST /auth/login answered without an accessToken');
  return token;
}

/** Fails unless `GET /auth/me` with this token answers 200 for the expected account. */
export async function checkMe(baseUrl: string, token: string, email: string): Promise<void> {
  const body = await call(baseUrl, 'GET', '/auth/me', 200, undefined, { authorization: `Bearer ${token}` });
  const got = (body as { email?: unknown }).email;
  if (got !== email) throw new Error(`GET /auth/me on ${baseUrl} answered for ${String(got)}, expected ${email}`);
}

/** One JSON request that must answer `expected`; the parsed answer. Bounded by `timeoutMs` (default 10 s). */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  expected: number,
  body?: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<unknown> {
  const response = await fetch(baseUrl + path, {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  if (response.status !== expected) throw new Error(`${method} ${path} answered ${response.status}, expected ${expected}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as unknown;
}
