/**
 * GET /info: where a client finds the platform's parts, so a simulator, an agent or a device's setup never has
 * to guess (a guessed mqtt://host:1883 may be someone else's broker, and it would be handed device tokens).
 * Public: it names endpoints and versions, nothing about users or devices.
 *
 * The MQTT endpoint is MQTT_PUBLIC_URL where devices are told to connect (the production broker), or the
 * embedded broker this process started (`npm start`); none when neither is known.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { version } from '../../shared/version.ts';
import { deviceTopics } from './model/device-topics.ts';

const MqttEndpoint = z.object({
  url: z.string().describe('Where devices connect: username = device id, password = device token'),
  broker: z.enum(['embedded', 'mosquitto']),
  protocolVersions: z.array(z.enum(['3.1.1', '5'])),
  topics: z.record(z.string(), z.string()).describe('Each topic of a device, `{deviceId}` standing for its id'),
});

const Info = z.object({
  version: z.string(),
  docs: z.object({ html: z.string(), openapi: z.string() }),
  realtime: z.object({ socketIoPath: z.string() }),
  telemetry: z.object({ http: z.string() }),
  mqtt: z.array(MqttEndpoint).describe('Empty when this platform takes telemetry over HTTP only'),
});

/** The device topics (device-topics.ts, the one list both brokers enforce) with placeholders for the ids. */
const topics = Object.fromEntries(Object.entries(deviceTopics).map(([name, topic]) => [name, topic('{deviceId}', '{commandId}')]));

export default defineHttpFunction({
  name: 'platformInfo',
  domain: 'devices',
  method: 'GET',
  path: '/info',
  auth: 'none',
  summary: 'Where the platform is: version, MQTT endpoint, realtime path, documentation',
  responses: { 200: Info },
  async handler({ deps }) {
    const mqtt = deps.config.MQTT_PUBLIC_URL
      ? [{ url: deps.config.MQTT_PUBLIC_URL, broker: 'mosquitto' as const, protocolVersions: ['3.1.1' as const, '5' as const], topics }]
      : deps.advertised.mqtt
        ? [{ ...deps.advertised.mqtt, protocolVersions: deps.advertised.mqtt.broker === 'embedded' ? ['3.1.1' as const] : ['3.1.1' as const, '5' as const], topics }]
        : [];
    return {
      status: 200,
      body: { version, docs: { html: '/docs', openapi: '/openapi.json' }, realtime: { socketIoPath: '/socket.io' }, telemetry: { http: '/telemetry' }, mqtt },
      headers: { 'cache-control': 'public, max-age=60' },
    };
  },
});
