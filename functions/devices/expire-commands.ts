/**
 * expireCommands, every second: commands past their expiry unanswered become `expired` in the store and go out
 * as `command.updated` (functions/devices/model/device-commands.ts). A command already reads as expired once past
 * its expiry; the event is what the dashboard and other listeners hear, and a timeout can be one second short,
 * so the pass runs that often.
 */
import { defineScheduleFunction } from '../../shared/function.ts';
import { expireCommands } from './model/device-commands.ts';

export default defineScheduleFunction({
  name: 'expireCommands',
  domain: 'devices',
  summary: 'Expire the commands past their expiry that no device answered',
  schedule: { cron: '* * * * *', everySeconds: 1 },
  async handler({ deps, now }) {
    return { expired: await expireCommands(deps, now) };
  },
});
