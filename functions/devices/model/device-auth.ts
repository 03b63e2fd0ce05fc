/**
 * Who a device token belongs to, for every message a device sends (HTTP or MQTT).
 *
 * Lookups are cached in the cache port by token hash: hits for the configured time, misses for 30 s (a
 * flood of bad tokens must not reach PostgreSQL). Updating, disabling, deleting a device or rotating its
 * token forgets the cached entry at once, and again half a second later, so a lookup that read the old row
 * just before the change cannot leave it cached: an old token stops working within a second.
 */
import type { Deps } from '../../../shared/platform.ts';
import { Problem } from '../../../shared/problem.ts';
import { hashDeviceToken } from './devices.ts';

export interface DeviceIdentity {
  id: string;
  ownerId: string;
  status: 'active' | 'disabled';
}

const cacheKey = (hash: string) => `device-token:${hash}`;
const unknown = 'unknown';

export function parseDeviceAuthorization(header: string | undefined): string {
  const match = /^Device\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match?.[1]) throw new Problem('unauthenticated', 'Send the device token: Authorization: Device <token>', { headers: { 'WWW-Authenticate': 'Device' } });
  return match[1];
}

/** The active device a token belongs to; 401 for an unknown token, 403 for a disabled device. */
export async function authenticateDevice(deps: Pick<Deps, 'cache' | 'db' | 'config'>, token: string): Promise<DeviceIdentity> {
  const hash = hashDeviceToken(token);
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
  if (!identity) throw new Problem('unauthenticated', 'The device token is not valid (unknown, rotated or its device deleted)', { headers: { 'WWW-Authenticate': 'Device' } });
  if (identity.status !== 'active') throw new Problem('device-disabled', `Device ${identity.id} is disabled`);
  return identity;
}

/** Forgets a cached token lookup now and once more shortly after (see the module note). */
export async function forgetDeviceToken(deps: Pick<Deps, 'cache'>, tokenHash: string): Promise<void> {
  await deps.cache.del(cacheKey(tokenHash));
  setTimeout(() => void deps.cache.del(cacheKey(tokenHash)).catch(() => undefined), 500).unref();
}
