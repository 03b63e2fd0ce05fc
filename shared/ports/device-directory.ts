/**
 * The devices directory port: what another domain may ask the devices domain about devices, instead of
 * importing its model or reading its tables. Monitoring's queries and alert rules and the realtime relay ask
 * it before showing anything of a device.
 *
 * The adapter is the devices domain's own (functions/devices/device-directory.ts, over its table and the
 * cache port); entry points wire it through `PlatformOptions.directory`. Ids from a client are never
 * trusted: an id the caller may not see answers exactly like one that does not exist, and a malformed id
 * like an unknown one.
 *
 *   if (!(await deps.directory.canSee(user, params.id))) throw new Problem('not-found', `No device ${params.id}`);
 *   const visible = await deps.directory.visibleDevices(user, body.deviceIds);   // lower-cased ids
 */
import type { Caller } from '../function.ts';

/** Who asks: the owner sees their own devices, an admin sees every device. */
export type Viewer = Pick<Caller, 'userId' | 'role'>;

export interface DeviceLocation {
  lat: number;
  lon: number;
  alt?: number;
}

export interface DeviceDirectory {
  /** The ids among `ids` of devices the viewer may see, lower-cased; the rest (unknown, malformed, another's) are absent. */
  visibleDevices(viewer: Viewer, ids: readonly string[]): Promise<Set<string>>;
  /** Whether the viewer may see the device; the id as the devices domain gives it out (lower case). */
  canSee(viewer: Viewer, deviceId: string): Promise<boolean>;
  /** The user who owns the device; undefined when there is no such device. */
  ownerOf(deviceId: string): Promise<string | undefined>;
  /** Where its owner placed the device: null when no place is set or there is no such device. */
  locationOf(deviceId: string): Promise<DeviceLocation | null>;
}
