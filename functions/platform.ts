/**
 * The platform the registry's functions, their triggers and the relay run on: shared/platform.ts's adapters,
 * plus the adapters a domain provides to the others through a port (the devices directory). Every entry point
 * that runs functions builds its platform here — `iotfn` (dev, relay, triggers, bridge), the
 * functions-framework entry (functions/index.ts) and the tests' startPlatform — so no process can run a
 * monitoring function or the relay without them.
 *
 *   const deps = await createFunctionPlatform(loadConfig());
 */
import type { Config } from '../shared/config.ts';
import { createPlatform, type Deps, type PlatformOptions } from '../shared/platform.ts';
import { createDeviceDirectory } from './devices/device-directory.ts';

export function createFunctionPlatform(config: Config, options: Partial<PlatformOptions> = {}): Promise<Deps> {
  return createPlatform(config, { ...options, directory: options.directory ?? createDeviceDirectory });
}
