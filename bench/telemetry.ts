/**
 * Telemetry figures: how much a device fleet can send through the platform, and proof that all of it reached
 * RabbitMQ.
 *
 *   devices.telemetry.http.points-{1,10,100}   POST /telemetry with Authorization: Device <token>, in points/s
 *   devices.telemetry.mqtt                     MQTT 5 through Mosquitto (project config) and the bridge, in msg/s
 *
 * Each figure has its own delivery probe (a queue bound to the telemetry exchange, see lib/delivery-probe.ts)
 * and reports `sent`, `confirmedInQueue` and `lost`. Over HTTP `sent` counts the 202 answers: a 202 means the
 * broker confirmed the message, so the queue must hold exactly that many. The HTTP run is a fixed number of
 * requests (sized from the warm-up's rate to last about BENCH_DURATION_S) rather than a fixed time, because a
 * timed run abandons the requests in flight when the time is up while the gateway still publishes them, and
 * the count would then be off by up to one per connection.
 *
 * `iotfn dev` also runs monitoring's ingest trigger in the gateway process, storing every message from its
 * queue (iotfn.ingest) into PostgreSQL. Each figure reports how far ingest was behind when the load ended
 * (`ingestBacklog`) and waits for it to catch up before the next measurement, so no figure pays for the
 * previous one's backlog; `deadLettered` appears when the dead-letter queue grew meanwhile (ingest gave up on
 * messages, or anything else on the broker did: the queue is shared).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import type { Bus } from '../shared/ports/bus.ts';
import { queues } from '../shared/bus/topology.ts';
import { freePort, logsSince, startServer, stopChild, type Child } from './lib/children.ts';
import { openDeliveryProbe, type Delivery, type DeliveryProbe } from './lib/delivery-probe.ts';
import { percentile, runLoad, statusCounts } from './lib/load.ts';
import { runId } from './lib/platform-env.ts';
import { connectDevices, startBenchBroker } from './lib/project-broker.ts';
import { dynsecCommands } from '../test/support/mosquitto.ts';
import { isHarmless, upsertDeviceAccount } from '../functions/devices/model/dynamic-security.ts';
import { progress, round, type Figure, type RunFigure } from './lib/report.ts';
import { call } from './signing.ts';

export interface TelemetryBench {
  figure: RunFigure;
  env: Record<string, string>;
  durationS: number;
  warmupS: number;
  gatewayUrl: string;
  gateway: Child;
  bus: Bus;
  /** Bearer token of a user owning no other bench devices. */
  userToken: string;
}

interface FleetDevice {
  id: string;
  token: string;
}

/** One connection per device, so every connection speaks for its own device as a real fleet would. */
const HTTP_DEVICES = 20;
const MQTT_DEVICES = 10;
const POINT_COUNTS = [1, 10, 100] as const;
/** How long the queue may take to hold every sent message after the load ends. */
const SETTLE_TIMEOUT_MS = 60_000;
/**
 * Published over MQTT but not yet in the queue, at most. Mosquitto acknowledges a publish as soon as it has
 * it, long before the bridge is done, and keeps at most max_queued_messages (default 1,000) per bridge
 * connection beyond the 20 in flight; past that it drops QoS 1 messages. Unthrottled publishers outrun the
 * bridge several times over, so the figure would measure that drop, not the bridge. Kept well below
 * 4 connections × 1,000, and still far more than the bridge needs to stay busy.
 */
const MQTT_MAX_BACKLOG = 1_000;
/** How long monitoring's ingest may take to empty its queue between figures. */
const INGEST_DRAIN_TIMEOUT_MS = 120_000;

export async function telemetryFigures(bench: TelemetryBench): Promise<void> {
  let fleet: FleetDevice[];
  try {
    fleet = await createFleet(bench, HTTP_DEVICES);
    await checkTelemetry(bench.gatewayUrl, fleet[0]!.token);
    progress(`telemetry fleet of ${fleet.length} devices ready`);
  } catch (error) {
    progress(`telemetry setup FAILED: ${(error as Error).message}`);
    for (const points of POINT_COUNTS) await bench.figure(`devices.telemetry.http.points-${points}`, () => Promise.reject(error as Error));
    await bench.figure('devices.telemetry.mqtt', () => Promise.reject(error as Error));
    return;
  }
  for (const points of POINT_COUNTS) {
    await bench.figure(`devices.telemetry.http.points-${points}`, () => httpTelemetry(bench, fleet, points));
  }
  await bench.figure('devices.telemetry.mqtt', () => mqttTelemetry(bench, fleet.slice(0, MQTT_DEVICES)));
}

async function createFleet(bench: TelemetryBench, count: number): Promise<FleetDevice[]> {
  const devices = Array.from({ length: count }, (_, i) => ({ name: `Bench telemetry ${i + 1}`, type: 'sensor', tags: ['bench'] }));
  const body = (await call(bench.gatewayUrl, 'POST', '/devices/bulk', 201, { devices }, { authorization: `Bearer ${bench.userToken}` })) as {
    devices: Array<{ device: { id: string }; deviceToken: string }>;
  };
  return body.devices.map((d) => ({ id: d.device.id, token: d.deviceToken }));
}

/** One request before any load, so a figure is never a measurement of 401s. */
async function checkTelemetry(gatewayUrl: string, token: string): Promise<void> {
  await call(gatewayUrl, 'POST', '/telemetry', 202, { values: { temperature: 21.5 } }, { authorization: `Device ${token}` });
}

function pointsBody(count: number): string {
  // Timestamps a second apart ending now: in the past, as a device catching up would send them.
  const now = Date.now();
  const points = Array.from({ length: count }, (_, i) => ({
    ts: now - (count - i) * 1000,
    values: { temperature: round(20 + Math.sin(i) * 5, 2), humidity: round(45 + Math.cos(i) * 10, 2) },
  }));
  return JSON.stringify(points);
}

async function httpTelemetry(bench: TelemetryBench, fleet: FleetDevice[], points: number): Promise<Figure> {
  const name = `devices.telemetry.http.points-${points}`;
  let next = 0;
  const base = {
    url: `${bench.gatewayUrl}/telemetry`,
    method: 'POST' as const,
    body: pointsBody(points),
    connections: fleet.length,
    setupClient: (client: { setHeaders(headers: Record<string, string>): void }) => {
      const device = fleet[next++ % fleet.length]!;
      client.setHeaders({ 'content-type': 'application/json', authorization: `Device ${device.token}` });
    },
  };

  // The warm-up also tells the rate, which sizes the measured run to last about BENCH_DURATION_S.
  const warm = await runLoad({ ...base, durationS: bench.warmupS });
  const warmRate = (warm.result.statusCodeStats?.['202']?.count ?? 0) / Math.max(warm.elapsedS, 0.001);
  if (warmRate === 0) throw new Error(`warm-up got no 202 (statuses ${JSON.stringify(statusCounts(warm.result))}, errors ${warm.result.errors})`);
  // The warm-up was a timed run: let the requests it abandoned finish before the probe starts counting, and
  // let ingest store what the warm-up sent.
  await sleep(1_000);
  await waitForIngest(bench.bus);

  const probe = await openDeliveryProbe(bench.bus, `http-points-${points}`);
  try {
    const amount = Math.max(fleet.length * 10, Math.round(warmRate * bench.durationS));
    const latencies: number[] = [];
    const logged = logsSince(bench.gateway);
    const ingested = await watchIngest(bench.bus);
    const run = await runLoad({ ...base, amount, durationS: bench.durationS, onResponse: (_status, ms) => latencies.push(ms) });
    const { result } = run;
    const sent = result.statusCodeStats?.['202']?.count ?? 0;
    const delivery = await probe.settle(sent, SETTLE_TIMEOUT_MS);
    const ingest = await ingested();
    const reqPerS = sent / run.elapsedS;
    const figure: Figure = {
      bench: name,
      value: round(reqPerS * points, 1),
      unit: 'points/s',
      points,
      reqPerS: round(reqPerS, 1),
      connections: fleet.length,
      devices: fleet.length,
      requests: result.requests.total,
      durationS: round(run.elapsedS, 2),
      p50: round(percentile(latencies, 0.5), 1),
      p99: round(percentile(latencies, 0.99), 1),
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
      ...deliveryFields(delivery),
      ...ingest,
    };
    if (result.non2xx > 0) figure.statusCodes = statusCounts(result);
    if (run.stoppedEarly) figure.stoppedEarly = true;
    return { ...figure, ...logged() };
  } finally {
    await probe.remove().catch((error: Error) => progress(`could not delete queue ${probe.queue}: ${error.message}`));
  }
}

function deliveryFields(delivery: Delivery): Record<string, number> {
  const fields: Record<string, number> = { sent: delivery.sent, confirmedInQueue: delivery.confirmedInQueue, lost: delivery.lost, settledMs: delivery.settledMs };
  if (delivery.extra > 0) fields.extra = delivery.extra;
  return fields;
}

interface Publisher {
  client: MqttClient;
  device: FleetDevice;
}

interface PublishTally {
  /** Publishes started. */
  issued: number;
  /** PUBACKed by the broker with success. */
  acked: number;
  /** PUBACKed with 0x10: the broker had no subscriber for it, so it went nowhere (the bridge was not subscribed). */
  noSubscribers: number;
  /** Rejected or failed publishes. */
  failed: number;
  /** Milliseconds publishers spent waiting for the bridge to catch up (summed over publishers). */
  throttledMs: number;
}

/** The broker accounts of `devices` (username = id, password = token), through dynamic security's control topic. */
async function giveAccounts(platformUrl: string, devices: readonly FleetDevice[]): Promise<void> {
  const admin = await mqtt.connectAsync(platformUrl, { protocolVersion: 5, reconnectPeriod: 0 });
  try {
    const commands = devices.flatMap((device) => upsertDeviceAccount({ id: device.id, password: device.token, disabled: false }, { setPassword: false }));
    const refused = (await dynsecCommands(admin, commands, 60_000)).filter((answer) => answer.error && !isHarmless(answer));
    if (refused.length > 0) throw new Error(`the broker refused ${refused.length} account command(s): ${refused.slice(0, 3).map((r) => `${r.command}: ${r.error}`).join('; ')}`);
  } finally {
    await admin.endAsync();
  }
}

async function mqttTelemetry(bench: TelemetryBench, devices: FleetDevice[]): Promise<Figure> {
  const port = await freePort();
  const group = `bench-${runId}`;
  const broker = await startBenchBroker();
  const bridge = await startServer(
    'bridge',
    process.execPath,
    ['--import', 'tsx', 'bin/iotfn.ts', 'bridge'],
    { ...bench.env, PORT: String(port), MQTT_URL: broker.platformUrl, MQTT_BRIDGE_GROUP: group, MQTT_BRIDGE_CONNECTIONS: '4' },
    port,
  );
  const publishers: Publisher[] = [];
  let probe: DeliveryProbe | undefined;
  try {
    // The devices were made before this broker existed, so their device events reached no bridge queue: give the
    // fresh broker their accounts, the commands the bridge sends for a device.created event. Only theirs: the
    // table also holds the devices figures' 100,000, and Mosquitto's dynamic security takes longer for every
    // account it holds (~38 accounts/s up to 1,000, ~5/s past 2,000), so `iotfn broker-accounts` for them all
    // would outlast the run.
    await giveAccounts(broker.platformUrl, devices);
    publishers.push(...(await connectDevices(broker.devicesUrl, devices)));
    probe = await openDeliveryProbe(bench.bus, 'mqtt', 'device-messages');

    // Warm-up: JIT, the bridge's device-token cache, the confirm channel. Settled before the count starts.
    const warm = await publishFor(publishers, bench.warmupS, probe);
    const warmDelivery = await probe.settle(warm.acked, SETTLE_TIMEOUT_MS);
    if (warmDelivery.lost > 0) throw new Error(`warm-up: ${warmDelivery.lost} of ${warm.acked} MQTT messages never reached the queue`);
    await probe.rebase();
    await waitForIngest(bench.bus);

    // The gateway counts too: it stores what the bridge publishes (monitoring's ingest).
    const logged = logsSince(bridge, bench.gateway);
    const ingested = await watchIngest(bench.bus);
    const started = performance.now();
    const tally = await publishFor(publishers, bench.durationS, probe);
    const settleStarted = performance.now();
    const delivery = await probe.settle(tally.acked, SETTLE_TIMEOUT_MS);
    const elapsedS = (settleStarted - started + delivery.settledMs) / 1000;
    const ingest = await ingested();
    const figure: Figure = {
      bench: 'devices.telemetry.mqtt',
      // What went all the way through; if some never arrived, `lost` says so and the wait is in elapsedS.
      value: round(Math.min(tally.acked, delivery.confirmedInQueue) / elapsedS, 1),
      unit: 'msg/s',
      devices: publishers.length,
      bridgeConnections: 4,
      qos: 1,
      publishS: bench.durationS,
      durationS: round(elapsedS, 2),
      maxBacklog: MQTT_MAX_BACKLOG,
      throttledMs: Math.round(tally.throttledMs / publishers.length),
      failedPublishes: tally.failed,
      ...deliveryFields(delivery),
      ...ingest,
    };
    if (tally.noSubscribers > 0) figure.noSubscribers = tally.noSubscribers;
    return { ...figure, ...logged() };
  } finally {
    await Promise.allSettled(publishers.map((p) => p.client.endAsync(true)));
    await probe?.remove().catch((error: Error) => progress(`could not delete queue ${probe?.queue}: ${error.message}`));
    await stopChild(bridge);
    await bench.bus.deleteQueue(queues.deviceEdge(group)).catch(() => undefined);
    await broker.stop();
  }
}

/**
 * Every publisher sends one message at a time, the next as soon as the broker's PUBACK is back, for `seconds`;
 * all pause while more than MQTT_MAX_BACKLOG acknowledged messages are not yet in the queue.
 */
async function publishFor(publishers: Publisher[], seconds: number, probe: DeliveryProbe): Promise<PublishTally> {
  const tally: PublishTally = { issued: 0, acked: 0, noSubscribers: 0, failed: 0, throttledMs: 0 };
  const stopAt = performance.now() + seconds * 1000;
  let arrived = await probe.count();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      arrived = await probe.count().catch(() => arrived);
      await sleep(20);
    }
  })();
  // Failed publishes and those nobody subscribed to will never arrive, so they are not waited for.
  const backlog = () => tally.issued - tally.failed - tally.noSubscribers - arrived;
  const payload = JSON.stringify({ values: { temperature: 21.5 } });
  await Promise.all(
    publishers.map(async ({ client, device }) => {
      const topic = `devices/${device.id}/telemetry`;
      const options = { qos: 1 as const };
      while (performance.now() < stopAt) {
        if (backlog() >= MQTT_MAX_BACKLOG) {
          const waitStarted = performance.now();
          while (backlog() >= MQTT_MAX_BACKLOG && performance.now() < stopAt) await sleep(2);
          tally.throttledMs += performance.now() - waitStarted;
          continue;
        }
        tally.issued += 1;
        try {
          const ack = await client.publishAsync(topic, payload, options);
          if (ack?.cmd === 'puback' && ack.reasonCode === 0x10) tally.noSubscribers += 1;
          else tally.acked += 1;
        } catch {
          tally.failed += 1;
        }
      }
    }),
  );
  polling = false;
  await poller;
  if (tally.failed > 0 || tally.noSubscribers > 0) {
    progress(`mqtt publishes: ${tally.failed} failed, ${tally.noSubscribers} had no subscriber`);
  }
  return tally;
}

/** Marks the dead-letter queue's depth; the function it returns waits for ingest and adds what was dead-lettered since. */
async function watchIngest(bus: Bus): Promise<() => Promise<Record<string, number>>> {
  const deadBefore = await bus.queueDepth(queues.deadLetters).catch(() => undefined);
  return async () => {
    const fields = await waitForIngest(bus);
    if (deadBefore === undefined) return fields;
    const deadNow = await bus.queueDepth(queues.deadLetters).catch(() => deadBefore);
    return deadNow > deadBefore ? { ...fields, deadLettered: deadNow - deadBefore } : fields;
  };
}

/**
 * Monitoring's backlog now, then a bounded wait until its ingest queue is empty. Reports nothing when there is
 * no such queue (a platform without monitoring), since then nothing competes with the next figure.
 */
async function waitForIngest(bus: Bus): Promise<Record<string, number>> {
  const depth = () => bus.queueDepth(queues.ingest);
  let backlog: number;
  try {
    backlog = await depth();
  } catch {
    return {};
  }
  const started = performance.now();
  let left = backlog;
  while (left > 0 && performance.now() - started < INGEST_DRAIN_TIMEOUT_MS) {
    await sleep(100);
    left = await depth();
  }
  const drainedMs = Math.round(performance.now() - started);
  if (left > 0) progress(`ingest: ${left} messages still in ${queues.ingest} after ${drainedMs} ms`);
  return left > 0 ? { ingestBacklog: backlog, ingestLeft: left } : { ingestBacklog: backlog, ingestDrainedMs: drainedMs };
}
