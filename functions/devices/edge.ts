/**
 * The long-lived side of the devices domain, for a process that stays up (the local gateway, or the MQTT
 * bridge deployment in a cluster): MQTT into the bus, through an external broker when MQTT_URL is set or
 * the embedded one otherwise. The periodic work of the domain (presence going offline, commands expiring) is
 * not here: it is scheduled functions (sweepPresence, expireCommands), which the scheduler runs.
 */
import type { Deps } from '../../shared/platform.ts';
import { startMqttBridge } from './mqtt-bridge.ts';
import { startEmbeddedMqttBroker } from './embedded-mqtt-broker.ts';
import { urlHost } from '../../shared/http/listen.ts';

/** The URL without its password: the banner goes to logs, the bridge's broker password must not. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured broker';
  }
}

export interface DeviceEdge {
  /** One line for the start-up banner. */
  mqtt: string;
  stop(): Promise<void>;
}

/** `mqtt: false` runs nothing: no bridge and no embedded broker (tests that bring their own). */
export async function startDeviceEdge(deps: Deps, options: { mqtt?: boolean } = {}): Promise<DeviceEdge> {
  if (options.mqtt === false) return { mqtt: 'none', stop: async () => {} };
  if (deps.config.MQTT_URL) {
    const bridge = await startMqttBridge(deps, deps.config.MQTT_URL);
    return {
      mqtt: `bridge from ${redactUrl(deps.config.MQTT_URL)} (Mosquitto with dynamic security: username = device id, password = device token)`,
      stop: () => bridge.stop(),
    };
  }
  const port = deps.config.MQTT_LISTEN_PORT;
  const broker = await startEmbeddedMqttBroker(deps, port, deps.config.HOST).catch((error: NodeJS.ErrnoException) => {
    // Another broker (a Mosquitto already running) is no reason to refuse to start the whole platform.
    if (error.code === 'EADDRINUSE') return undefined;
    throw error;
  });
  if (!broker) {
    return {
      mqtt: `off: port ${port} is taken (another broker?); set MQTT_LISTEN_PORT, or MQTT_URL to bridge from that broker`,
      stop: async () => {},
    };
  }
  // What GET /info names: the address devices reach it at, not a wildcard.
  deps.advertised.mqtt = { url: `mqtt://${urlHost(deps.config.HOST)}:${broker.port}`, broker: 'embedded' };
  return {
    mqtt: `embedded broker on mqtt://localhost:${broker.port} (MQTT 3.1.1; username = device id, password = device token)`,
    stop: () => broker.stop(),
  };
}
