/**
 * The demo fleet of `npm start -- --demo`: a few simulated devices of a demo user sending telemetry to the
 * platform that just started, so the dashboard shows live data at once. The devices are kept in DATA_DIR and
 * reused on the next start (their tokens are shown only once), so restarts do not pile up devices.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readDeviceCredentials } from './device-credentials.ts';
import { runFleet } from './fleet.ts';

export const demoUser = { email: 'demo@example.com', password: 'watch the fleet live' } as const;

export interface DemoFleet {
  stop(): Promise<void>;
}

export function startDemoFleet(url: string, dataDir: string, onError: (error: unknown) => void): DemoFleet {
  const file = join(dataDir, 'demo-devices.json');
  const devices = existsSync(file) ? readDeviceCredentials(readFileSync(file, 'utf8'), file) : undefined;
  const abort = new AbortController();
  const run = runFleet({
    url,
    credentials: demoUser,
    ...(devices ? { devices } : { saveDevicesTo: file }),
    count: 5,
    ratePerDevice: 1,
    durationMs: 7 * 24 * 3600 * 1000,
    transport: 'http',
    broker: 'embedded',
    seed: 42,
    signal: abort.signal,
  }).catch(onError);
  return {
    async stop() {
      abort.abort();
      await run;
    },
  };
}
