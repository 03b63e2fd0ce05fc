/**
 * sweepNoData, every 5 s: opens an alert for each `nodata` rule whose key has been silent for its window
 * (functions/monitoring/model/alerts.ts). A rule's window is whole seconds, usually minutes, so 5 s is late by
 * little and cheap: one query of the quiet-looking rules per pass.
 */
import { defineScheduleFunction } from '../../shared/function.ts';
import { sweepNoData } from './model/alerts.ts';

export default defineScheduleFunction({
  name: 'sweepNoData',
  domain: 'monitoring',
  summary: 'Open alerts for no-data rules whose key has been silent for their window',
  schedule: { cron: '* * * * *', everySeconds: 5 },
  async handler({ deps, now }) {
    return { opened: await sweepNoData(deps, now) };
  },
});
