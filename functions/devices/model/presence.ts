/**
 * Device presence: when each device was last heard from, and the online/offline transitions.
 *
 * `presence:last-seen` keeps every device's last message time (a sorted set, score = epoch ms), so any
 * process can tell `online` as "heard from within DEVICE_ONLINE_SECONDS". `presence:online` holds the
 * devices currently announced online: the first message after silence adds the device there and emits
 * `device.status {online: true}`; a sweep (the scheduled function sweepPresence) removes devices gone quiet and emits
 * `{online: false}`. Removal answers 1 to exactly one of several racing sweepers, so each transition is
 * announced once.
 */
import type { Deps } from '../../../shared/platform.ts';
import { cloudEvent, eventMessage } from '../../../shared/events.ts';
import { eventTypes, exchanges } from '../../../shared/bus/topology.ts';
import type { DeviceStatusData } from '../../../shared/messages.ts';
import type { DeviceIdentity } from './device-auth.ts';

const lastSeenKey = 'presence:last-seen';
const onlineKey = 'presence:online';

/** Last-seen epoch ms for each id (null when never heard from). */
export async function lastSeenOf(deps: Pick<Deps, 'cache'>, ids: readonly string[]): Promise<Map<string, number | null>> {
  const scores = ids.length ? await deps.cache.sortedScores(lastSeenKey, ids) : [];
  return new Map(ids.map((id, i) => [id, scores[i] ?? null]));
}

/** Ids heard from within the online window. */
export async function onlineIds(deps: Pick<Deps, 'cache' | 'config'>, now = Date.now()): Promise<string[]> {
  const since = now - deps.config.DEVICE_ONLINE_SECONDS * 1000;
  return (await deps.cache.sortedRangeByScore(lastSeenKey, since, Infinity)).map((e) => e.member);
}

async function announce(deps: Pick<Deps, 'bus'>, device: Pick<DeviceIdentity, 'id' | 'ownerId'>, online: boolean, lastSeen: number): Promise<void> {
  const event = cloudEvent<DeviceStatusData>({
    type: eventTypes.device('device.status'),
    source: '/devices',
    subject: device.id,
    data: { deviceId: device.id, ownerId: device.ownerId, online, lastSeenAt: new Date(lastSeen).toISOString() },
  });
  await deps.bus.publish(exchanges.events, 'device.status', eventMessage(event));
}

/** Recent touches in this process: a device sending 1,000 messages a second costs Redis one write a second. */
const recentTouches = new Map<string, number>();

export async function touchDevice(deps: Pick<Deps, 'cache' | 'bus'>, device: Pick<DeviceIdentity, 'id' | 'ownerId'>, now = Date.now()): Promise<void> {
  await touchDevices(deps, [device], now);
}

/** Many devices heard from at once (the MQTT bridge's batches): three cache calls in all, not three each. */
export async function touchDevices(deps: Pick<Deps, 'cache' | 'bus'>, devices: ReadonlyArray<Pick<DeviceIdentity, 'id' | 'ownerId'>>, now = Date.now()): Promise<void> {
  const due = devices.filter((device) => {
    const previous = recentTouches.get(device.id);
    return previous === undefined || now - previous >= 1000;
  });
  if (due.length === 0) return;
  if (recentTouches.size + due.length > 100_000) recentTouches.clear();
  for (const device of due) recentTouches.set(device.id, now);
  // The owner rides along as the member of the online set, so the sweeper can address its offline event.
  const members = due.map((device) => `${device.id}|${device.ownerId}`);
  const wasOnline = await deps.cache.sortedScores(onlineKey, members);
  await deps.cache.sortedAdd(lastSeenKey, due.map((device) => ({ member: device.id, score: now })));
  await deps.cache.sortedAdd(onlineKey, members.map((member) => ({ member, score: now })));
  for (const [i, device] of due.entries()) {
    if (wasOnline[i] === null || wasOnline[i] === undefined) await announce(deps, device, true, now);
  }
}

/** Announces offline every device silent for longer than the window; returns how many. */
export async function sweepOffline(deps: Pick<Deps, 'cache' | 'bus' | 'config'>, now = Date.now()): Promise<number> {
  const cutoff = now - deps.config.DEVICE_ONLINE_SECONDS * 1000;
  const silent = await deps.cache.sortedRangeByScore(onlineKey, -Infinity, cutoff, 1000);
  let announced = 0;
  for (const { member, score } of silent) {
    if ((await deps.cache.sortedRemove(onlineKey, [member])) !== 1) continue;
    const [id = '', ownerId = ''] = member.split('|');
    recentTouches.delete(id);
    await announce(deps, { id, ownerId }, false, score);
    announced++;
  }
  return announced;
}

export async function forgetPresence(deps: Pick<Deps, 'cache'>, device: Pick<DeviceIdentity, 'id' | 'ownerId'>): Promise<void> {
  recentTouches.delete(device.id);
  await deps.cache.sortedRemove(lastSeenKey, [device.id]);
  await deps.cache.sortedRemove(onlineKey, [`${device.id}|${device.ownerId}`]);
}
