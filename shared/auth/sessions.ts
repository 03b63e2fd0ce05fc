/**
 * Login sessions in the cache: what makes logout immediate and refresh tokens single-use.
 *
 * A session lives at `session:{sid}` until its absolute expiry. Access tokens carry the `sid`, and every
 * function checks the session still exists, so deleting it (logout, reuse detected) refuses both tokens at
 * once. Refresh tokens are opaque (`{sid}.{secret}`), stored only as a SHA-256 hash (they are 256 random
 * bits, so a slow hash adds nothing) and rotated on every use. A rotated token's hash is remembered under
 * `refresh-used:{hash}`: presenting it again means it leaked, and the whole session is revoked.
 *
 * Every request checks its session, so each process remembers "still active" for up to SESSION_MEMO_MS
 * (shared/auth/pushed-memo.ts). Every end of a session goes through `endSession`, which deletes the key and
 * publishes the id, so every process forgets it at once; while a process cannot hear those messages it asks Redis.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Cache } from '../ports/cache.ts';
import type { Bus } from '../ports/bus.ts';
import { Problem } from '../problem.ts';
import { cloudEvent, eventMessage } from '../events.ts';
import { eventTypes, exchanges } from '../bus/topology.ts';
import type { SessionEndedData } from '../messages.ts';
import { pushedMemo } from './pushed-memo.ts';

export interface Session {
  userId: string;
  role: 'user' | 'admin';
  /** Hash of the one refresh token that is valid now. */
  refreshHash: string;
  /** Absolute expiry, epoch ms: refreshing does not extend a session. */
  expiresAt: number;
}

const sessionKey = (sid: string) => `session:${sid}`;
const usedKey = (hash: string) => `refresh-used:${hash}`;
const hashToken = (token: string) => createHash('sha256').update(token).digest('base64url');
const newRefreshToken = (sid: string) => `${sid}.${randomBytes(32).toString('base64url')}`;

/** The channel on which every ended session's id is published. */
export const SESSIONS_ENDED_CHANNEL = 'auth:sessions-ended';
/**
 * How long a process trusts "active" without asking Redis. Revocations are pushed, so this bounds only what nothing
 * announces (a session key deleted by hand, a flushed Redis); 10 s makes nearly every request a hit at any real load
 * while keeping that worst case short. A session's own expiry is honoured exactly: the memo never outlives the key.
 */
export const SESSION_MEMO_MS = 10_000;
/** A few MB at most (ids are UUIDs): more live sessions than one process serves within SESSION_MEMO_MS. */
export const SESSION_MEMO_ENTRIES = 10_000;

const activeSessions = (cache: Cache) =>
  pushedMemo<{ active: boolean; remainingMs: number }>(cache, SESSIONS_ENDED_CHANNEL, { name: 'sessions', ttlMs: SESSION_MEMO_MS, maxEntries: SESSION_MEMO_ENTRIES });

export async function startSession(cache: Cache, user: { userId: string; role: 'user' | 'admin' }, ttlSeconds: number) {
  const sessionId = randomUUID();
  const refreshToken = newRefreshToken(sessionId);
  const session: Session = { ...user, refreshHash: hashToken(refreshToken), expiresAt: Date.now() + ttlSeconds * 1000 };
  await cache.set(sessionKey(sessionId), JSON.stringify(session), { ttlMs: ttlSeconds * 1000 });
  return { sessionId, refreshToken, session };
}

/** Exchanges a refresh token for the next one; detects reuse of a rotated token and revokes the session. */
export async function rotateRefreshToken(cache: Cache, refreshToken: string, bus?: Bus) {
  const sessionId = refreshToken.split('.')[0] ?? '';
  const presented = hashToken(refreshToken);
  const stored = await cache.get(sessionKey(sessionId));
  if (stored) {
    const session = JSON.parse(stored) as Session;
    if (session.refreshHash === presented) {
      const next = newRefreshToken(sessionId);
      const updated: Session = { ...session, refreshHash: hashToken(next) };
      const remainingMs = session.expiresAt - Date.now();
      if (remainingMs > 0) {
        // Marked used before the swap, and compareAndSet lets one of two concurrent refreshes with the same
        // token win: the loser then finds the mark and is treated as a reuse.
        await cache.set(usedKey(presented), sessionId, { ttlMs: remainingMs });
        if (await cache.compareAndSet(sessionKey(sessionId), stored, JSON.stringify(updated), remainingMs)) {
          return { sessionId, refreshToken: next, session: updated };
        }
      }
    }
  }
  const reusedFrom = await cache.get(usedKey(presented));
  if (reusedFrom) {
    const revoked = await cache.get(sessionKey(reusedFrom));
    await endSession(cache, reusedFrom);
    const userId = revoked ? (JSON.parse(revoked) as Session).userId : undefined;
    if (bus && userId) await announceSessionEnded(bus, { sessionId: reusedFrom, userId, reason: 'revoked' }).catch(() => undefined);
    throw new Problem('refresh-token-reused', 'This refresh token was already exchanged; the session is revoked, log in again');
  }
  throw new Problem('invalid-token', 'The refresh token is not valid or its session has ended');
}

/** Ends a session (logout, reuse detected): deletes it, then tells every process to forget it was active. */
export async function endSession(cache: Cache, sessionId: string): Promise<void> {
  await cache.del(sessionKey(sessionId));
  await activeSessions(cache).invalidate(sessionId);
}

export async function isSessionActive(cache: Cache, sessionId: string): Promise<boolean> {
  // Only "active" is remembered, and never past the key's own expiry.
  const answer = await activeSessions(cache).read(sessionId, () => readSession(cache, sessionId), (read) => (read.active ? read.remainingMs : 0));
  return answer.active;
}

/** One round trip for both answers: PTTL is missing (null) for no key, and every session is set with a TTL. */
async function readSession(cache: Cache, sessionId: string): Promise<{ active: boolean; remainingMs: number }> {
  const remainingMs = await cache.ttl(sessionKey(sessionId));
  if (remainingMs !== null) return { active: true, remainingMs };
  // A key without a TTL (not one we write) still counts, but is never remembered.
  return { active: await cache.exists(sessionKey(sessionId)), remainingMs: 0 };
}

/**
 * Tells the relays a session ended, so they close its sockets now rather than at their next sweep. Best
 * effort: the session is already gone from the cache, which is what every other check reads.
 */
export async function announceSessionEnded(bus: Bus, data: SessionEndedData): Promise<void> {
  const event = cloudEvent<SessionEndedData>({ type: eventTypes.session('session.ended'), source: '/auth/sessions', subject: data.userId, data });
  await bus.publish(exchanges.events, 'session.ended', eventMessage(event));
}
