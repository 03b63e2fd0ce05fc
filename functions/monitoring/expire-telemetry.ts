/**
 * expireTelemetry, hourly: points older than TELEMETRY_RETENTION_DAYS go, and rollups older than
 * TELEMETRY_ROLLUP_RETENTION_DAYS. Retention is counted in days, so an hour's lateness costs nothing. On
 * PostgreSQL a pass drops whole days (partitions) and makes the coming days' partitions; on MongoDB TTL indexes
 * expire data themselves and the pass removes nothing.
 */
import { defineScheduleFunction } from '../../shared/function.ts';
import { telemetryRetention } from '../../shared/config.ts';

const dayMs = 86_400_000;

export default defineScheduleFunction({
  name: 'expireTelemetry',
  domain: 'monitoring',
  summary: 'Delete telemetry older than the retention (TELEMETRY_RETENTION_DAYS, rollups TELEMETRY_ROLLUP_RETENTION_DAYS)',
  schedule: { cron: '0 * * * *' },
  async handler({ deps, now }) {
    const { retentionDays, rollupRetentionDays } = telemetryRetention(deps.config);
    return { expired: await deps.telemetry.expire({ points: now - retentionDays * dayMs, rollups: now - rollupRetentionDays * dayMs }) };
  },
});
