/**
 * expireTelemetry, hourly: telemetry older than TELEMETRY_RETENTION_DAYS is deleted. Retention is counted in
 * days, so an hour's lateness costs nothing, and an hour's worth of old rows is a small delete. On MongoDB the
 * TTL index expires data itself and the pass deletes nothing.
 */
import { defineScheduleFunction } from '../../shared/function.ts';

const dayMs = 86_400_000;

export default defineScheduleFunction({
  name: 'expireTelemetry',
  domain: 'monitoring',
  summary: 'Delete telemetry older than the retention (TELEMETRY_RETENTION_DAYS)',
  schedule: { cron: '0 * * * *' },
  async handler({ deps, now }) {
    return { expired: await deps.telemetry.expire(now - deps.config.TELEMETRY_RETENTION_DAYS * dayMs) };
  },
});
