/**
 * The MQTT bridge: a long-lived process of the devices domain between Mosquitto (with its dynamic-security
 * plugin) and the bus, connected with the broker's admin account on the platform's listener.
 *
 * Uplink: several connections share `$share/{group}/devices/+/telemetry`, `…/state` and
 * `…/commands/+/result`, so every bridge of the group (and every connection of one bridge) gets a share, in
 * persistent sessions named after the host, so a restarted bridge takes up what was queued for it. The
 * broker authenticated each device at CONNECT and held it to its own topics; the bridge takes the device from
 * the topic and sends the message the same way as the HTTP routes. Its PUBACK to the broker goes back only
 * once the message is on the bus or in the table (at least once).
 *
 * Downlink (one more connection): the devices domain's events keep the broker's device accounts in line with
 * the table, and carry configuration (retained) and commands to devices. See device-downlink.ts. A broker
 * whose accounts were lost (a new or emptied data volume) is filled again by `iotfn broker-accounts`
 * (syncBrokerAccounts below), not at every start: for a large fleet that is minutes of broker work.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import mqtt, { type MqttClient } from 'mqtt';
import type { Deps } from '../../shared/platform.ts';
import { uplinkTopicFilters, parseUplinkTopic } from './model/device-topics.ts';
import { handleDeviceUplink, uplinkReasonCodes, type TelemetrySink, type UplinkOutcome } from './model/device-uplink.ts';
import { telemetryBatcher } from './model/telemetry-batcher.ts';
import { deviceIdentityById, type DeviceIdentity } from './model/device-auth.ts';
import { dynamicSecurity, platformAccount, platformRole } from './model/dynamic-security.ts';
import { reconcileDeviceAccounts, syncDeviceAccount } from './model/broker-accounts.ts';
import { startDeviceDownlink, type DeviceBrokerLink } from './model/device-downlink.ts';

export interface MqttBridge {
  stop(): Promise<void>;
}

/**
 * Gives the bridge's account the role that lets it publish configuration and commands, once per broker. The
 * broker disconnects every connection of an account whose roles change, so this runs on a connection of its
 * own before the others open, and only when the role is missing.
 */
async function ensurePlatformRole(url: string, clientId: string): Promise<void> {
  const username = decodeURIComponent(new URL(url).username);
  const setup = await mqtt.connectAsync(url, { protocolVersion: 5, clientId, connectTimeout: 5000, reconnectPeriod: 0 });
  setup.on('error', () => undefined);
  try {
    const dynsec = await dynamicSecurity(setup);
    const [account] = await dynsec.run([{ command: 'getClient', username }]);
    const roles = ((account?.data?.client as { roles?: Array<{ rolename: string }> } | undefined)?.roles ?? []).map((r) => r.rolename);
    if (roles.includes(platformRole)) return;
    // The answer never comes: the broker applies the commands, then disconnects this connection.
    await dynsec.run(platformAccount(username), 2000).catch(() => undefined);
  } finally {
    await setup.endAsync(true).catch(() => undefined);
  }
}

export async function startMqttBridge(deps: Deps, url: string): Promise<MqttBridge> {
  const { MQTT_BRIDGE_CONNECTIONS: connections, MQTT_BRIDGE_GROUP: group } = deps.config;
  const instance = randomUUID().slice(0, 8);
  const options = { protocolVersion: 5 as const, connectTimeout: 5000, reconnectPeriod: 1000 };
  // Uplink sessions outlive the process: the same client ids come back after a restart (or a broker restart)
  // and take up what the broker queued meanwhile or had sent without a PUBACK, so nothing a device was
  // acknowledged for is lost. The host name keeps two bridges' ids apart (and a pod's across its restarts).
  const sessionName = `iotfn-bridge-${group}-${hostname()}`;

  // Who a topic's device is, remembered here for a few seconds: the broker already authenticated the device
  // and disconnects it when it is disabled or deleted, so a short memory costs no safety and saves the cache
  // round trip on every message.
  const identities = new Map<string, { device: DeviceIdentity | undefined; until: number }>();
  async function identityOf(deviceId: string): Promise<DeviceIdentity | undefined> {
    const now = Date.now();
    const known = identities.get(deviceId);
    if (known && known.until > now) return known.device;
    const device = await deviceIdentityById(deps, deviceId);
    if (identities.size > 100_000) identities.clear();
    identities.set(deviceId, { device, until: now + 5000 });
    return device;
  }

  // Telemetry of all uplink connections goes to the bus in shared batches. Each connection hands over one
  // message at a time, so a batch holding one message of every connection is as full as it gets: it goes out
  // then, or after a couple of milliseconds when traffic is light.
  const batcher = telemetryBatcher(deps, { maxMessages: Math.min(connections, 1000), maxWaitMs: 2 });
  const sendTelemetry: TelemetrySink = (device, points, bytes) => batcher.add(device, points, bytes);

  async function uplinkOnce(topic: string, payload: Buffer): Promise<UplinkOutcome> {
    const deviceId = parseUplinkTopic(topic)?.deviceId;
    const device = deviceId ? await identityOf(deviceId) : undefined;
    if (!device) return 'unauthorized';
    return handleDeviceUplink(deps, device, topic, payload, sendTelemetry);
  }

  /** Retries while the bus or the database is down, for a bounded time: the broker keeps the message until the PUBACK. */
  async function uplink(topic: string, payload: Buffer): Promise<number> {
    const deadline = Date.now() + 30_000;
    for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
      const outcome = await uplinkOnce(topic, payload).catch((): UplinkOutcome => 'unavailable');
      if (outcome !== 'unavailable' || Date.now() > deadline) return uplinkReasonCodes[outcome];
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  const clients: MqttClient[] = [];
  const uplinks: MqttClient[] = [];
  let stopping = false;
  const filters = Object.values(uplinkTopicFilters).map((filter) => `$share/${group}/${filter}`);

  /**
   * One uplink connection in its persistent session. A lost connection is replaced by a new client in the
   * same session rather than reconnected: mqtt.js hands a connection's messages over one at a time, and a
   * message whose handling spanned the drop left a reconnected client waiting for it forever (seen with a
   * broker restart); a new client starts clean, and the broker resends what had no PUBACK.
   */
  async function openUplink(i: number): Promise<MqttClient> {
    const client = await mqtt.connectAsync(url, {
      ...options,
      reconnectPeriod: 0,
      clientId: `${sessionName}-${i}`,
      clean: false,
      properties: { sessionExpiryInterval: 24 * 3600 },
      customHandleAcks: (topic, payload, _packet, done) => {
        uplink(topic, payload).then(
          (code) => done(code),
          () => done(0x80),
        );
      },
    }, false);
    client.on('error', (error) => deps.log.warn({ err: error }, 'mqtt bridge connection error'));
    client.once('close', () => {
      if (stopping) return;
      client.end(true);
      void (async () => {
        // Every 100 ms for the first seconds: Mosquitto 2.0 brings persistent sessions back after a restart but
        // not their `$share` subscriptions, so what devices publish after it and before a bridge connection
        // subscribes again has no subscriber and is dropped. Back first, the bridge keeps that window short.
        for (let attempt = 0; !stopping; attempt++) {
          await new Promise((resolve) => setTimeout(resolve, attempt < 50 ? 100 : Math.min(100 * 2 ** (attempt - 50), 5000)));
          if (stopping) return;
          try {
            uplinks[i] = await openUplink(i);
            deps.log.info({ connection: i }, 'mqtt bridge connection replaced');
            return;
          } catch (error) {
            deps.log.warn({ err: error, connection: i }, 'mqtt bridge could not connect; trying again');
          }
        }
      })();
    });
    // Every time, even into a session the broker kept: subscribing again is harmless and covers a session
    // restored without its subscriptions.
    await client.subscribeAsync(filters, { qos: 1 });
    return client;
  }

  let downlink: { cancel(): Promise<void> } | undefined;
  try {
    await ensurePlatformRole(url, `iotfn-bridge-${instance}-setup`);
    const control = await mqtt.connectAsync(url, { ...options, clientId: `iotfn-bridge-${instance}-control` });
    control.on('error', (error) => deps.log.warn({ err: error }, 'mqtt bridge control connection error'));
    clients.push(control);
    const dynsec = await dynamicSecurity(control);
    const link: DeviceBrokerLink = {
      publish: async (topic, payload, { retain }) => void (await control.publishAsync(topic, payload, { qos: 1, retain })),
      syncAccount: (deviceId, change) => syncDeviceAccount(deps, dynsec, deviceId, change),
    };
    downlink = await startDeviceDownlink(deps, link, { durable: true });

    // All at once: a resumed session delivers its queue before the SUBACK, one message at a time per
    // connection, and its batches fill only while the other connections hand over messages too (opened one
    // after another, a restart behind a backlog took 25 s to come up).
    const opened = await Promise.allSettled(Array.from({ length: connections }, (_, i) => openUplink(i)));
    opened.forEach((result, i) => {
      if (result.status === 'fulfilled') uplinks[i] = result.value;
    });
    const failed = opened.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (error) {
    stopping = true;
    await downlink?.cancel().catch(() => undefined);
    await Promise.allSettled([...clients, ...uplinks].map((c) => c.endAsync(true)));
    throw error;
  }
  deps.log.info({ group, connections }, 'mqtt bridge subscribed');
  return {
    async stop() {
      stopping = true;
      await downlink?.cancel().catch(() => undefined);
      await batcher.drain();
      await Promise.allSettled([...clients, ...uplinks].map((c) => c.endAsync()));
    },
  };
}

/** `iotfn broker-accounts`: the broker's device accounts made to match the devices table, all at once. */
export async function syncBrokerAccounts(deps: Deps, url: string): Promise<{ created: number; deleted: number }> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `iotfn-accounts-${randomUUID().slice(0, 8)}`, connectTimeout: 5000, reconnectPeriod: 0 });
  client.on('error', () => undefined);
  try {
    return await reconcileDeviceAccounts(deps, await dynamicSecurity(client));
  } finally {
    await client.endAsync().catch(() => undefined);
  }
}
