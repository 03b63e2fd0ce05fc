/**
 * The embedded MQTT broker (aedes, a real MQTT 3.1.1 broker in-process) that `npm start` runs when no
 * MQTT_URL is set, with the bridge built in.
 *
 * aedes authenticates the CONNECT itself: username = device id, password = device token. A device may
 * publish only on its own `devices/{id}/telemetry`; each message is checked again (a token rotated or a
 * device disabled since the CONNECT stops it within a second) and published to the bus before aedes
 * sends the PUBACK. Devices cannot subscribe: telemetry leaves through the platform, not the broker.
 */
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes, type Client } from 'aedes';
import type { Deps } from '../../shared/platform.ts';
import { Problem } from '../../shared/problem.ts';
import { handleMqttTelemetry } from './model/mqtt-telemetry.ts';
import { authenticateDevice } from './model/device-auth.ts';

const tokens = new WeakMap<Client, string>();

export interface EmbeddedMqttBroker {
  port: number;
  stop(): Promise<void>;
}

function authError(message: string, returnCode: 4 | 5) {
  return Object.assign(new Error(message), { returnCode });
}

export async function startEmbeddedMqttBroker(deps: Deps, port: number, host = '0.0.0.0'): Promise<EmbeddedMqttBroker> {
  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const token = password?.toString('utf8');
      if (!username || !token) return done(authError('username (device id) and password (device token) are required', 4), false);
      authenticateDevice(deps, token).then(
        (device) => {
          if (device.id !== username) return done(authError('the token is not this device\'s', 4), false);
          tokens.set(client, token);
          done(null, true);
        },
        (error: unknown) => done(authError(error instanceof Problem ? error.message : 'device lookup failed', error instanceof Problem && error.status < 500 ? 4 : 5), false),
      );
    },
    authorizePublish(client, packet, done) {
      const token = client ? tokens.get(client) : undefined;
      if (!client || !token) return done(new Error('not authenticated'));
      // Refused payloads are dropped and counted but answered as published: a disconnect would make a
      // well-meaning device resend its one bad message forever. A refused token disconnects the device.
      handleMqttTelemetry(deps, packet.topic, packet.payload as Buffer, token).then(
        (outcome) => done(outcome === 'unavailable' || outcome === 'unauthorized' ? new Error(outcome) : null),
        (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
      );
    },
    authorizeSubscribe(_client, _subscription, done) {
      // A null subscription is refused in the SUBACK (0x80) without dropping the connection.
      done(null, null);
    },
  });
  broker.on('clientError', (client, error) => deps.log.debug({ client: client.id, err: error }, 'mqtt client error'));

  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    async stop() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
