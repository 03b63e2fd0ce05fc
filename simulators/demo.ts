/**
 * The demo fleet of `npm start -- --demo`: a few simulated devices of a demo user sending telemetry to the
 * platform that just started, so the dashboard shows live data at once. The devices are kept in DATA_DIR and
 * reused on the next start (their tokens are shown only once), so restarts do not pile up devices. Each demo
 * device gets an alert rule just above its normal daily range, so the simulator's occasional temperature
 * spikes open (and the next normal reading clears) alerts to look at.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readDeviceCredentials, type DeviceCredentials } from './device-credentials.ts';
import { runFleet } from './fleet.ts';
import { signIn } from './platform-api.ts';
import { profileOf } from './signals.ts';

export const demoUser = { email: 'demo@example.com', password: 'watch the fleet live' } as const;
const demoSeed = 42;

/** Waits (bounded) for the fleet to have provisioned its devices, then gives each a rule if it has none. */
async function addDemoRules(url: string, file: string, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!existsSync(file)) {
    if (signal.aborted || Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const devices: DeviceCredentials[] = readDeviceCredentials(readFileSync(file, 'utf8'), file);
  const headers = { authorization: `Bearer ${await signIn(url, demoUser)}`, 'content-type': 'application/json' };
  for (const [index, device] of devices.entries()) {
    const rules = await fetch(`${url}/devices/${device.id}/rules`, { headers, signal: AbortSignal.timeout(5000) });
    if (!rules.ok || ((await rules.json()) as { items: unknown[] }).items.length > 0) continue;
    const profile = profileOf(demoSeed, index);
    const value = Math.round((profile.baseTemperature + profile.temperatureAmplitude + 2) * 10) / 10;
    await fetch(`${url}/devices/${device.id}/rules`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ key: 'temperature', op: 'gt', value }),
      signal: AbortSignal.timeout(5000),
    });
  }
}

export interface DemoFleet {
  /** Resolves once the demo devices exist (and have their rules), or the fleet gave up on them. */
  ready: Promise<void>;
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
    seed: demoSeed,
    signal: abort.signal,
  }).catch(onError);
  // Ready once the devices exist and carry their rules: what the banner waits for before it says so again.
  const ready = addDemoRules(url, file, abort.signal).catch(onError);
  return {
    ready: ready.then(() => undefined),
    async stop() {
      abort.abort();
      await run;
    },
  };
}
