/**
 * Who a device token belongs to, for every message a device sends (HTTP or MQTT).
 *
 * Lookups are cached in the cache port by token hash: hits for the configured time, misses for 30 s (a
 * flood of bad tokens must not reach PostgreSQL). Updating, disabling, deleting a device or rotating its
 * token forgets the cached entry at once, and again half a second later, so a lookup that read the old row
 * just before the change cannot leave it cached: an old token stops working within a second.
 *
 * Each process also remembers the identities it found for up to DEVICE_MEMO_MS (shared/auth/pushed-memo.ts):
 * a device sending every second would otherwise cost a Redis round trip per message, the gateway's largest
 * cost per telemetry request after the publish itself. Forgetting a device publishes its keys, so every process
 * drops them at once; while a process cannot hear that it asks Redis. Unknown tokens are not remembered here:
 * a flood of made-up tokens would only push the real ones out.
 */
import type { Deps } from '../../../shared/platform.ts';
import type { Cache } from '../../../shared/ports/cache.ts';
import { Problem } from '../../../shared/problem.ts';
import { pushedMemo } from '../../../shared/auth/pushed-memo.ts';
import { hashDeviceToken } from './device-tokens.ts';

export interface DeviceIdentity {
  id: string;
  ownerId: string;
  status: 'active' | 'disabled';
}

const cacheKey = (hash: string) => `device-token:${hash}`;
const unknown = 'unknown';

/** Where a forgotten device's cache keys are announced to every process. */
export const DEVICES_CHANGED_CHANNEL = 'devices:identity-changed';
/**
 * How long a process uses a remembered identity without asking Redis. Changes are pushed, so this bounds only
 * what nothing announces (the Redis entry's own expiry, SQL by hand).
 */
export const DEVICE_MEMO_MS = 10_000;
/** An identity is ~150 bytes: 50,000 devices talking to one process is a few MB. */
export const DEVICE_MEMO_ENTRIES = 50_000;

export const deviceMemo = (cache: Cache) =>
  pushedMemo<DeviceIdentity | undefined>(cache, DEVICES_CHANGED_CHANNEL, { name: 'devices', ttlMs: DEVICE_MEMO_MS, maxEntries: DEVICE_MEMO_ENTRIES });
const remembered = (identity: DeviceIdentity | undefined) => (identity ? DEVICE_MEMO_MS : 0);

export function parseDeviceAuthorization(header: string | undefined): string {
  const match = /^Device\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match?.[1]) throw new Problem('unauthenticated', 'Send the device token: Authorization: Device <token>', { headers: { 'WWW-Authenticate': 'Device' } });
  return match[1];
}

/** The active device a token belongs to; 401 for an unknown token, 403 for a disabled device. */
export async function authenticateDevice(deps: Pick<Deps, 'cache' | 'db' | 'config'>, token: string): Promise<DeviceIdentity> {
  const hash = hashDeviceToken(token);
  const identity = await deviceMemo(deps.cache).read(cacheKey(hash), () => identityByTokenHash(deps, hash), remembered);
  if (!identity) throw new Problem('unauthenticated', 'The device token is not valid (unknown, rotated or its device deleted)', { headers: { 'WWW-Authenticate': 'Device' } });
  if (identity.status !== 'active') throw new Problem('device-disabled', `Device ${identity.id} is disabled`);
  return identity;
}

async function identityByTokenHash(deps: Pick<Deps, 'cache' | 'db' | 'config'>, hash: string): Promise<DeviceIdentity | undefined> {
  const cached = await deps.cache.get(cacheKey(hash));
  let identity: DeviceIdentity | undefined;
  if (cached === null) {
    const { rows } = await deps.db.query<{ id: string; owner_id: string; status: 'active' | 'disabled' }>(
      'SELECT id, owner_id, status FROM devices WHERE token_hash = $1',
      [hash],
    );
    const row = rows[0];
    identity = row ? { id: row.id, ownerId: row.owner_id, status: row.status } : undefined;
    const ttlMs = identity ? deps.config.DEVICE_CACHE_SECONDS * 1000 : 30_000;
    await deps.cache.set(cacheKey(hash), identity ? JSON.stringify(identity) : unknown, { ttlMs });
  } else if (cached !== unknown) {
    identity = JSON.parse(cached) as DeviceIdentity;
  }
  return identity;
}

const idCacheKey = (id: string) => `device-id:${id}`;

/**
 * The device behind an id, for a message the broker already authenticated (the bridge): cached and remembered
 * like tokens. Undefined for a device that does not exist (any more).
 */
export async function deviceIdentityById(deps: Pick<Deps, 'cache' | 'db' | 'config'>, id: string): Promise<DeviceIdentity | undefined> {
  return deviceMemo(deps.cache).read(idCacheKey(id), async () => (await deviceIdentitiesById(deps, [id])).get(id), remembered);
}

/**
 * The devices behind many ids at once (the devices directory's lookups), through the same cache entries:
 * one cache round trip, and one query for the ids it did not hold. Ids that are no device are absent.
 */
export async function deviceIdentitiesById(deps: Pick<Deps, 'cache' | 'db' | 'config'>, ids: readonly string[]): Promise<Map<string, DeviceIdentity>> {
  const found = new Map<string, DeviceIdentity>();
  if (ids.length === 0) return found;
  const cached = await deps.cache.getMany(ids.map(idCacheKey));
  const missing: string[] = [];
  ids.forEach((id, i) => {
    const entry = cached[i];
    if (entry === null || entry === undefined) missing.push(id);
    else if (entry !== unknown) found.set(id, JSON.parse(entry) as DeviceIdentity);
  });
  if (missing.length === 0) return found;
  const { rows } = await deps.db.query<{ id: string; owner_id: string; status: 'active' | 'disabled' }>(
    'SELECT id, owner_id, status FROM devices WHERE id = ANY($1::uuid[])',
    [missing],
  );
  const byId = new Map(rows.map((row): [string, DeviceIdentity] => [row.id, { id: row.id, ownerId: row.owner_id, status: row.status }]));
  await Promise.all(
    missing.map((id) => {
      const identity = byId.get(id.toLowerCase());
      if (identity) found.set(id, identity);
      return deps.cache.set(idCacheKey(id), identity ? JSON.stringify(identity) : unknown, { ttlMs: identity ? deps.config.DEVICE_CACHE_SECONDS * 1000 : 30_000 });
    }),
  );
  return found;
}

/**
 * Forgets a device's cached lookups (by token and by id) in the cache and in every process's memo, now and once
 * more shortly after (see the module note).
 */
export async function forgetDeviceToken(deps: Pick<Deps, 'cache'>, tokenHash: string, deviceId?: string): Promise<void> {
  const keys = [cacheKey(tokenHash), ...(deviceId ? [idCacheKey(deviceId)] : [])];
  const memo = deviceMemo(deps.cache);
  const forget = () => Promise.all(keys.flatMap((key) => [deps.cache.del(key), memo.invalidate(key)]));
  await forget();
  setTimeout(() => void forget().catch(() => undefined), 500).unref();
}
