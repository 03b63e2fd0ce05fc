/**
 * The embedded MQTT broker (aedes, a real MQTT 3.1.1 broker in-process) that `npm start` runs when no
 * MQTT_URL is set. It speaks the same device protocol as the production broker (Mosquitto with dynamic
 * security), so a device's firmware is the same on a laptop and in a cluster:
 *
 * - CONNECT with username = device id and password = device token; anything else is refused. The client id
 *   is the username whatever the device sent (Mosquitto's `use_username_as_clientid`), so no device can take
 *   over another's session.
 * - Publish only to its own `devices/{id}/telemetry`, `…/state` and `…/commands/{cid}/result`; subscribe only
 *   to `devices/{id}/config` and `devices/{id}/commands` (no wildcards, no shared subscriptions).
 * - A rotated token, a disabled or deleted device loses its connection as soon as the event arrives.
 * - A CONNECT over 64 KiB or a packet over the MQTT packet limit closes the connection before it is buffered.
 *
 * aedes 1.2 has no MQTT 5: MQTT 5 clients are refused with "unacceptable protocol version" here; Mosquitto
 * takes both.
 */
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes, type Client } from 'aedes';
import type { Deps } from '../../shared/platform.ts';
import { Problem } from '../../shared/problem.ts';
import { authenticateDevice, type DeviceIdentity } from './model/device-auth.ts';
import { handleDeviceUplink } from './model/device-uplink.ts';
import { deviceSubscribeTopics, deviceTopics, mqttMaxPacketBytes } from './model/device-topics.ts';
import { publishDesiredConfig, sendPendingCommands, startDeviceDownlink, type DeviceBrokerLink } from './model/device-downlink.ts';
import { touchDevice } from './model/presence.ts';
import { guardMqttPackets } from './model/mqtt-packet-guard.ts';

export const connectMaxBytes = 64 * 1024;

interface Session {
  token: string;
  device: DeviceIdentity;
}

export interface EmbeddedMqttBroker {
  port: number;
  stop(): Promise<void>;
}

function authError(message: string, returnCode: 4 | 5) {
  return Object.assign(new Error(message), { returnCode });
}

export async function startEmbeddedMqttBroker(deps: Deps, port: number, host = '0.0.0.0'): Promise<EmbeddedMqttBroker> {
  const sessions = new WeakMap<Client, Session>();
  /** Devices whose configuration this broker has retained since it started (its retained store is memory). */
  const configRetained = new Set<string>();
  const logFailure = (what: string) => (error: unknown) => deps.log.warn({ err: error }, what);

  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const token = password?.toString('utf8');
      if (!username || !token) return done(authError('username (device id) and password (device token) are required', 4), false);
      authenticateDevice(deps, token).then(
        (device) => {
          if (device.id !== username) return done(authError('the token is not this device\'s', 4), false);
          // Like Mosquitto's use_username_as_clientid: the session is the device's, whatever id it asked for.
          client.id = device.id;
          sessions.set(client, { token, device });
          done(null, true);
        },
        (error: unknown) => done(authError(error instanceof Problem ? error.message : 'device lookup failed', error instanceof Problem && error.status < 500 ? 4 : 5), false),
      );
    },
    authorizePublish(client, packet, done) {
      const session = client ? sessions.get(client) : undefined;
      if (!session) return done(new Error('not authenticated'));
      // The token again (cached): a device disabled or rotated since its CONNECT stops at once even if the event
      // that disconnects it is still on its way. Refused payloads are dropped and counted but acknowledged, or a
      // well-meaning device would resend its one bad message forever; a refusal of the device disconnects it.
      authenticateDevice(deps, session.token)
        .then((device) => handleDeviceUplink(deps, device, packet.topic, packet.payload as Buffer))
        .then(
          (outcome) => done(outcome === 'unavailable' || outcome === 'unauthorized' ? new Error(outcome) : null),
          (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
        );
    },
    authorizeSubscribe(client, subscription, done) {
      const session = client ? sessions.get(client) : undefined;
      // A null subscription is refused in the SUBACK (0x80) without dropping the connection.
      if (!session || !deviceSubscribeTopics(session.device.id).includes(subscription.topic)) return done(null, null);
      done(null, { ...subscription, qos: Math.min(subscription.qos, 1) as 0 | 1 });
    },
  });

  // aedes keeps its connected clients by client id (here: device id) but leaves the map out of its types.
  const clients = (broker as unknown as { clients: Record<string, Client | undefined> }).clients;
  const link: DeviceBrokerLink = {
    publish: (topic, payload, { retain }) =>
      new Promise((resolve, reject) => {
        broker.publish({ cmd: 'publish', topic, payload, qos: 1, retain, dup: false }, (error) => (error ? reject(error) : resolve()));
      }),
    async syncAccount(deviceId, change) {
      if (change === 'created') return;
      const client = clients[deviceId];
      if (!client) return;
      if (change === 'updated') {
        const { rows } = await deps.db.query<{ status: string }>('SELECT status FROM devices WHERE id = $1', [deviceId]);
        if (rows[0]?.status === 'active') return;
      }
      client.close();
    },
    isConnected: (deviceId) => clients[deviceId]?.connected === true,
  };

  broker.on('clientReady', (client) => {
    const session = sessions.get(client);
    if (session) touchDevice(deps, session.device).catch(logFailure('presence update failed'));
  });
  broker.on('subscribe', (subscriptions, client) => {
    const session = client ? sessions.get(client) : undefined;
    if (!session) return;
    const id = session.device.id;
    for (const { topic } of subscriptions) {
      if (topic === deviceTopics.config(id) && !configRetained.has(id)) {
        configRetained.add(id);
        publishDesiredConfig(deps, link, id).catch(logFailure('configuration delivery failed'));
      }
      if (topic === deviceTopics.commands(id)) sendPendingCommands(deps, link, id).catch(logFailure('command delivery failed'));
    }
  });
  broker.on('clientError', (client, error) => deps.log.debug({ client: client.id, err: error }, 'mqtt client error'));

  const downlink = await startDeviceDownlink(deps, link, { durable: false });
  const limits = { connectMaxBytes, packetMaxBytes: mqttMaxPacketBytes(deps.config.BODY_LIMIT_BYTES) };
  const server: Server = createServer((socket) => {
    guardMqttPackets(socket, limits, (reason) => deps.log.warn({ remote: socket.remoteAddress, reason }, 'mqtt connection closed: packet too large'));
    broker.handle(socket);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (error) {
    await downlink.cancel().catch(() => undefined);
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw error;
  }
  return {
    port: (server.address() as AddressInfo).port,
    async stop() {
      await downlink.cancel().catch(() => undefined);
      await deps.bus.deleteQueue(downlink.queue).catch(() => undefined);
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
