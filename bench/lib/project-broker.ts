/**
 * The production broker for a bench: Mosquitto with the project's rendered configuration and dynamic security
 * (the same helper the tests use), and device connections as a device makes them: username = device id,
 * password = device token. The bridge creates a device's broker account from its `device.created` event, a
 * moment after the device exists, so a refused CONNECT is tried again for a while.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import amqp from 'amqplib';
import { queues } from '../../shared/bus/topology.ts';
import { AMQP_URL } from './platform-env.ts';
import type { BenchDevice } from './monitoring-senders.ts';

export { startProjectMosquitto as startBenchBroker, type ProjectMosquitto as BenchBroker } from '../../test/support/mosquitto.ts';

export async function connectDevice(url: string, device: BenchDevice, options: { reconnect?: boolean; waitMs?: number } = {}): Promise<MqttClient> {
  const deadline = Date.now() + (options.waitMs ?? 60_000);
  for (;;) {
    try {
      // No reconnects unless asked: a dropped publisher must fail the figure, not resend behind its back.
      const client = await mqtt.connectAsync(url, { protocolVersion: 5, username: device.id, password: device.token, connectTimeout: 10_000, reconnectPeriod: options.reconnect ? 500 : 0 }, false);
      client.on('error', () => {});
      return client;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`device ${device.id} could not connect: ${(error as Error).message}`);
      await sleep(200);
    }
  }
}

/** Connects every device, a hundred at a time. */
export async function connectDevices(url: string, devices: readonly BenchDevice[], options: { reconnect?: boolean } = {}): Promise<Array<{ client: MqttClient; device: BenchDevice }>> {
  const connected: Array<{ client: MqttClient; device: BenchDevice }> = [];
  for (let i = 0; i < devices.length; i += 100) {
    connected.push(...(await Promise.all(devices.slice(i, i + 100).map(async (device) => ({ client: await connectDevice(url, device, options), device })))));
  }
  return connected;
}

/** A bench's bridge group has a durable queue of its own (device events for the broker): gone with the run. */
export async function deleteBridgeQueue(group: string): Promise<void> {
  const connection = await amqp.connect(AMQP_URL);
  try {
    const channel = await connection.createChannel();
    await channel.deleteQueue(queues.deviceEdge(group));
  } finally {
    await connection.close();
  }
}
