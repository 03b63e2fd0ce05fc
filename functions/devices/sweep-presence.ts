/**
 * sweepPresence, every 5 s: announces `device.status {online: false}` for each device silent for longer than
 * DEVICE_ONLINE_SECONDS (functions/devices/model/presence.ts). The window is minutes; 5 s keeps the dashboard's
 * offline mark close to it.
 */
import { defineScheduleFunction } from '../../shared/function.ts';
import { sweepOffline } from './model/presence.ts';

export default defineScheduleFunction({
  name: 'sweepPresence',
  domain: 'devices',
  summary: 'Announce offline the devices silent for longer than DEVICE_ONLINE_SECONDS',
  schedule: { cron: '* * * * *', everySeconds: 5 },
  async handler({ deps, now }) {
    return { offline: await sweepOffline(deps, now) };
  },
});
