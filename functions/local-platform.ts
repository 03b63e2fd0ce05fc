/**
 * The one-process platform: what `npm start` adds around the gateway so every domain runs in one process.
 *
 * In a cluster each of these is its own deployment (Knative triggers for the event functions, the relay
 * and the MQTT bridge as Deployments); here they share the gateway's process and port: the local triggers
 * consume each event function's durable queue, the realtime relay rides on the gateway's HTTP server,
 * the device edge takes MQTT, and the in-process scheduler runs the scheduled functions (in a cluster: each
 * fired by its PingSource or cron-connector).
 */
import type { Server } from 'node:http';
import type { Deps } from '../shared/platform.ts';
import type { Subscription } from '../shared/ports/bus.ts';
import { startTrigger, type TriggerOptions } from '../shared/bus/trigger.ts';
import { attachRelay, type Relay } from '../realtime/relay.ts';
import { startScheduler, type Scheduler } from '../shared/schedule/scheduler.ts';
import { eventFunctions, scheduleFunctions } from './registry.ts';
import { startDeviceEdge, type DeviceEdge } from './devices/edge.ts';

export interface LocalPlatform {
  /** Banner lines: what runs where. */
  describe: Record<string, string>;
  relay: Relay;
  stop(): Promise<void>;
}

export async function startLocalPlatform(deps: Deps, server: Server, options: { trigger?: TriggerOptions; mqtt?: boolean } = {}): Promise<LocalPlatform> {
  const triggers: Subscription[] = [];
  let relay: Relay | undefined;
  let edge: DeviceEdge | undefined;
  const scheduler: Scheduler = startScheduler(deps, scheduleFunctions);
  const stop = async () => {
    await scheduler.stop();
    await Promise.allSettled(triggers.map((t) => t.cancel()));
    await relay?.stop();
    await edge?.stop();
  };
  try {
    for (const fn of eventFunctions) triggers.push(await startTrigger(fn, deps, options.trigger));
    relay = await attachRelay(server, deps);
    edge = await startDeviceEdge(deps, { mqtt: options.mqtt !== false });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    describe: {
      triggers: eventFunctions.map((fn) => `${fn.name} ← ${fn.trigger.queue}`).join(', '),
      realtime: 'Socket.IO relay on /socket.io',
      mqtt: edge.mqtt,
      schedules: scheduler.describe,
    },
    relay,
    stop,
  };
}
