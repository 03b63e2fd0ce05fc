/**
 * The devices directory (shared/ports/device-directory.ts) over the devices domain's own table: the one
 * answer every other domain asks before showing a device's data. Entry points build the platform with it
 * (functions/platform.ts).
 *
 * Who owns a device is read through the cache entries the MQTT edge uses too (model/device-auth.ts,
 * `device-id:{id}`), so the hot askers (the relay's subscribe, every telemetry query) cost one cache round
 * trip instead of a query. An owner never changes; deleting a device forgets its entry as the delete commits
 * (and once more half a second later), in every process sharing the cache, so a deleted device is unknown
 * to the other domains at once, as it was when they read the table.
 */
import type { Deps } from '../../shared/platform.ts';
import type { DeviceDirectory, DeviceLocation, Viewer } from '../../shared/ports/device-directory.ts';
import { deviceIdentitiesById } from './model/device-auth.ts';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createDeviceDirectory(deps: Pick<Deps, 'db' | 'cache' | 'config'>): DeviceDirectory {
  async function visibleDevices(viewer: Viewer, ids: readonly string[]): Promise<Set<string>> {
    const candidates = [...new Set(ids.map((id) => id.toLowerCase()))].filter((id) => uuidPattern.test(id));
    const devices = await deviceIdentitiesById(deps, candidates);
    return new Set(
      candidates.filter((id) => {
        const device = devices.get(id);
        return device !== undefined && (device.ownerId === viewer.userId || viewer.role === 'admin');
      }),
    );
  }

  return {
    visibleDevices,
    async canSee(viewer, deviceId) {
      return (await visibleDevices(viewer, [deviceId])).has(deviceId);
    },
    async ownerOf(deviceId) {
      // Lower case, as the cache entries are kept and forgotten.
      const id = deviceId.toLowerCase();
      if (!uuidPattern.test(id)) return undefined;
      return (await deviceIdentitiesById(deps, [id])).get(id)?.ownerId;
    },
    async locationOf(deviceId) {
      if (!uuidPattern.test(deviceId)) return null;
      // Read when a forecast needs it, which is rare next to its own work: not worth a cache entry to keep in line.
      const { rows } = await deps.db.query<{ location: DeviceLocation | null }>('SELECT location FROM devices WHERE id = $1', [deviceId]);
      return rows[0]?.location ?? null;
    },
  };
}
