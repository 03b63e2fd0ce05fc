/**
 * The monitoring domain's figures, one JSON line each on stdout (progress on stderr):
 *
 *   node --import tsx bench/monitoring.ts
 *
 *   rabbitmq.publish-consume           the broker alone (amqplib): persistent messages, confirms, a consumer acking
 *   monitoring.e2e.http                POST /telemetry (100 points a request) until every point is in PostgreSQL
 *   monitoring.e2e.mqtt                MQTT 5 → Mosquitto → `iotfn bridge` → RabbitMQ → ingest → PostgreSQL
 *   monitoring.ingest.bus              the consumer side alone: the bench publishes telemetry events of 100 points
 *                                      straight to the telemetry exchange (the platform's own event shape) until
 *                                      every point is in PostgreSQL; no HTTP in the gateway, so what it measures is
 *                                      ingest (trigger, store write) and the broker, not the edge
 *   monitoring.live-latency.p50/.p99   a point's send time to its Socket.IO `telemetry` event, RELAY_COALESCE_MS=0;
 *                                      one device sends 100 requests/s × 10 points (1,000 points/s): 1,000
 *                                      requests/s × 1 point was more than two shared cores could send and serve
 *   monitoring.live-latency.coalesce-100.p50/.p99   the same with the default coalescing window
 *   monitoring.query.{43k,1m,10m}.p50/.p99  GET /devices/{id}/telemetry?interval=1h&agg=avg over 30 days of history
 *                                      (10m: the device is one of ten with a million points each)
 *   monitoring.store.raw-insert        PostgreSQL's own INSERT … SELECT into the telemetry table: e2e.http's limit
 *   monitoring.retention.drop-day      dropping one day's partition of a million points, as expireTelemetry does
 *   monitoring.retention.delete-day    a DELETE of as many rows, as it did before partitions
 *   relay.memory-per-1000-sockets      resident memory of `iotfn relay` for 1,000 idle authenticated clients
 *
 * "Stored" means counted in the telemetry table by the bench's own connection, not accepted by an API: the
 * end-to-end figures run from the first request to the poll that sees every accepted point, and `lost`
 * (accepted but never stored) must be 0. The e2e figures carry their ratio to the broker's own rate in
 * messages per second (`ratioToBroker`); an HTTP message carries 100 points, so it also says `messagesPerS`.
 *
 * Children (each its own process, on 127.0.0.1, against the real PostgreSQL, Redis, RabbitMQ and Mosquitto):
 * a gateway `iotfn dev` (which runs the ingest trigger and the relay too) with RELAY_COALESCE_MS=0 for the
 * live figure, then one with the default window for everything else, the MQTT bridge (with its default
 * number of connections), and a relay alone. They are stopped at the end, also on a failed step, a signal or
 * the watchdog. The bench devices' telemetry rows are deleted at the end, so the shared test database does
 * not grow; their bench users (`bench-…`) are left, as bench/devices.ts leaves its own and prunes them after
 * an hour.
 *
 * Every line carries the machine's 1-minute load average (`loadAvg1m`): other work on the same two cores moves
 * every figure, and `ingestConsumers` > 1 means another gateway on the broker shares `iotfn.ingest`'s work.
 *
 * Knobs, for working on one part:
 *   BENCH_ONLY=regex          only the figures whose names match, and only the set-up they need (as bench/run.ts)
 *   BENCH_CPU_PROF=directory  each gateway runs under `node --cpu-prof` and leaves its profile there when stopped
 *
 *   BENCH_ONLY='e2e\.http|live-latency' node --import tsx bench/monitoring.ts
 */
import { cpuProfileFlags } from './lib/cpu-profile.ts';
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { loadConfig } from '../shared/config.ts';
import { freePort, logsSince, startServer, stopAll, stopChild, type Child } from './lib/children.ts';
import { percentile, runLoad, statusCounts } from './lib/load.ts';
import { openBroker, type Broker } from './lib/monitoring-broker.ts';
import { PointClock, publishMqttFor, sendHttpFor, TELEMETRY_KEY, type BenchDevice, type MqttPublisher } from './lib/monitoring-senders.ts';
import { closeAll, connectMany, connectRelay, residentBytes, subscribe } from './lib/monitoring-sockets.ts';
import { openBenchStore, type BenchStore } from './lib/monitoring-store.ts';
import { platformEnv, runId } from './lib/platform-env.ts';
import { connectDevices, deleteBridgeQueue, startBenchBroker } from './lib/project-broker.ts';
import { deleteRunKeys } from './lib/redis-cleanup.ts';
import { progress, round } from './lib/report.ts';
import { call, logIn, registerBenchUser } from './signing.ts';
import { createRabbitBus } from '../shared/adapters/bus/rabbitmq.ts';
import { cloudEvent, eventMessage } from '../shared/events.ts';
import { eventTypes, exchanges, queues, telemetryRoutingKey } from '../shared/bus/topology.ts';
import type { TelemetryData } from '../shared/messages.ts';
import { AMQP_URL } from './lib/platform-env.ts';

/**
 * A figure line. Like report.ts's Figure, but the relay's memory is in MB, a unit that Figure's union does not
 * have (and report.ts is not this file's to change).
 */
interface Line {
  bench: string;
  value: number;
  unit: 'points/s' | 'msg/s' | 'ms' | 'req/s' | 'MB';
  [context: string]: unknown;
}

// Sizes and bounds. The whole run is meant to stay under about five minutes on two cores.
const WARMUP_S = 1;
const E2E_HTTP_S = 6;
const E2E_HTTP_DEVICES = 10;
const E2E_HTTP_CONNECTIONS = 20;
const E2E_POINTS_PER_REQUEST = 100;
const E2E_MQTT_S = 6;
/** Telemetry events the bus figure publishes (100 points each), and how many wait for their confirm at once. */
const BUS_MESSAGES = 3_000;
const BUS_WARMUP_MESSAGES = 300;
const BUS_PUBLISH_WINDOW = 200;
const E2E_MQTT_DEVICES = 10;
/**
 * Published over MQTT but not yet stored, at most. Mosquitto PUBACKs at once and queues at most
 * max_queued_messages (default 1,000) per bridge connection beyond 20 in flight, dropping QoS 1 messages past
 * that; unthrottled publishers would measure that drop. 2,000 over the bridge's connections (4 or more) stays below it.
 */
const MQTT_MAX_BACKLOG = 2_000;
const STORE_TIMEOUT_MS = 90_000;
const STORE_POLL_MS = 100;
const BROKER_MESSAGES = 50_000;
/** About the size of a one-point telemetry CloudEvent as the platform publishes it. */
const BROKER_BODY_BYTES = 400;
const LIVE_RPS = 100;
const LIVE_POINTS_PER_REQUEST = 10;
const LIVE_S = 8;
/** One per core: queries in parallel as a few dashboards would make them, without measuring mostly queueing. */
const QUERY_CONNECTIONS = 2;
const DAY_MS = 86_400_000;
/** Points of the day the retention figures drop, and of the day they delete. */
const RETENTION_DAY_POINTS = 1_000_000;
const RELAY_SOCKETS = 1_000;
const RELAY_BATCH = 100;
/** Hard stop for the whole run, whatever hangs: everything above plus start-ups, seeding and clean-up, with room. */
const WATCHDOG_S = 420;

const env = platformEnv();
/** BENCH_ONLY=regex runs only the figures whose names match (and the set-up they need). */
const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined;
const wanted = (names: readonly string[]): boolean => !only || names.some((name) => only.test(name));
const failures: string[] = [];
const benchDevices = new Set<string>();
let store: BenchStore | undefined;
let broker: Broker | undefined;
let brokerMsgPerS: number | undefined;

function emitLine(line: Line): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}

/**
 * Runs one step that yields one or more figures and reports them; a failing step is reported under every
 * name it would have given, remembered, and the later steps still run. A figure with lost points counts as failed.
 */
async function figures(names: string[], step: () => Promise<Line[]>): Promise<Line[]> {
  if (!wanted(names)) return [];
  progress(`${names.join(', ')} ...`);
  try {
    const lines = await step();
    // The machine may be shared (tests, type-checks of other sessions): the load says how much to trust a line.
    const loadAvg1m = round(loadavg()[0] ?? 0, 2);
    for (const line of lines) {
      line.loadAvg1m = loadAvg1m;
      emitLine(line);
      progress(`${line.bench}: ${line.value} ${line.unit}`);
      if (Number(line.lost ?? 0) > 0) failures.push(`${line.bench} (lost ${String(line.lost)})`);
    }
    return lines;
  } catch (error) {
    progress(`${names.join(', ')} FAILED: ${(error as Error).message}`);
    failures.push(...names);
    return [];
  }
}

interface Gateway {
  child: Child;
  url: string;
  token: string;
}

async function startGateway(name: string, extraEnv: Record<string, string>): Promise<Gateway> {
  const port = await freePort();
  const child = await startServer(name, process.execPath, [...cpuProfileFlags(name), '--import', 'tsx', 'bin/iotfn.ts', 'dev'], { ...env, ...extraEnv, PORT: String(port) }, port);
  const url = `http://127.0.0.1:${port}`;
  try {
    const credentials = await registerBenchUser(url);
    const token = await logIn(url, credentials);
    progress(`${name}: bench user ${credentials.email} logged in`);
    return { child, url, token };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

/** Devices made through the API (so the owner checks pass), remembered for the clean-up. */
async function createDevices(gateway: Gateway, label: string, count: number): Promise<Array<BenchDevice & { ownerId: string }>> {
  const devices = Array.from({ length: count }, (_, i) => ({ name: `Bench monitoring ${label} ${i + 1}`, type: 'sensor', tags: ['bench'] }));
  const body = (await call(gateway.url, 'POST', '/devices/bulk', 201, { devices }, { authorization: `Bearer ${gateway.token}` })) as {
    devices: Array<{ device: { id: string; ownerId: string }; deviceToken: string }>;
  };
  const created = body.devices.map((d) => ({ id: d.device.id, ownerId: d.device.ownerId, token: d.deviceToken }));
  for (const device of created) benchDevices.add(device.id);
  return created;
}

function requireStore(): BenchStore {
  if (!store) throw new Error('no database connection');
  return store;
}

function ratio(messagesPerS: number): Record<string, number> {
  return brokerMsgPerS ? { ratioToBroker: round(messagesPerS / brokerMsgPerS, 4) } : {};
}

/** Ingest's queue right now: what it had not yet stored, and how many consumers share it (ours is one). */
async function ingestQueue(): Promise<{ messageCount: number; consumerCount: number } | undefined> {
  return broker?.inspect(queues.ingest);
}

async function deadLetters(): Promise<number | undefined> {
  return (await broker?.inspect(queues.deadLetters))?.messageCount;
}

// ---------------------------------------------------------------------------------------------------------------

async function brokerFigure(): Promise<void> {
  await figures(['rabbitmq.publish-consume'], async () => {
    if (!broker) throw new Error('no broker connection');
    // A short warm-up on its own queue: connection buffers, the broker's queue process, JIT.
    await broker.publishConsume({ messages: 5_000, bodyBytes: BROKER_BODY_BYTES, window: 1_000, prefetch: 1_000, timeoutMs: 30_000 });
    const raw = await broker.publishConsume({ messages: BROKER_MESSAGES, bodyBytes: BROKER_BODY_BYTES, window: 1_000, prefetch: 1_000, timeoutMs: 60_000 });
    if (raw.timedOut) throw new Error(`only ${raw.consumed} of ${BROKER_MESSAGES} consumed (${raw.confirmed} confirmed) within 60 s`);
    brokerMsgPerS = raw.consumed / raw.seconds;
    return [
      {
        bench: 'rabbitmq.publish-consume',
        value: round(brokerMsgPerS, 1),
        unit: 'msg/s',
        messages: BROKER_MESSAGES,
        bodyBytes: BROKER_BODY_BYTES,
        persistent: true,
        confirms: 'pipelined, at most 1000 unconfirmed',
        prefetch: 1_000,
        ack: 'each message',
        client: 'amqplib, one connection, publisher and consumer in the bench process',
        seconds: round(raw.seconds, 3),
        publishSeconds: round(raw.publishSeconds, 3),
      },
    ];
  });
}

async function e2eHttpFigure(gateway: Gateway): Promise<void> {
  await figures(['monitoring.e2e.http'], async () => {
    const db = requireStore();
    const devices = await createDevices(gateway, 'http', E2E_HTTP_DEVICES);
    const ids = devices.map((d) => d.id);
    // A past hour: a day is the platform's limit into the future, retention's 30 days into the past.
    const clock = new PointClock(Date.now() - 3_600_000);
    const base = { url: `${gateway.url}/telemetry`, devices, connections: E2E_HTTP_CONNECTIONS, pointsPerRequest: E2E_POINTS_PER_REQUEST, clock };

    const warm = await sendHttpFor({ ...base, seconds: WARMUP_S });
    if (warm.accepted === 0) throw new Error(`warm-up got no 202 (statuses ${JSON.stringify(warm.statuses)}, first error ${warm.firstError ?? 'none'})`);
    const warmStored = await db.waitStored(ids, warm.sentPoints, { since: 0, timeoutMs: STORE_TIMEOUT_MS });
    if (warmStored.timedOut) throw new Error(`warm-up: ${warmStored.stored} of ${warm.sentPoints} points stored after ${STORE_TIMEOUT_MS} ms`);
    const since = await db.count(ids);

    const ingestBefore = await ingestQueue();
    const deadBefore = await deadLetters();
    const logged = logsSince(gateway.child);
    const run = await sendHttpFor({ ...base, seconds: E2E_HTTP_S });
    const ingestAtEnd = await ingestQueue();
    const wait = await db.waitStored(ids, run.sentPoints, { since, timeoutMs: STORE_TIMEOUT_MS, intervalMs: STORE_POLL_MS });
    const deadAfter = await deadLetters();
    const seconds = (wait.at - run.startedAt) / 1000;
    const stored = Math.min(wait.stored, run.sentPoints);
    const messagesPerS = run.accepted / seconds;
    const line: Line = {
      bench: 'monitoring.e2e.http',
      value: round(stored / seconds, 1),
      unit: 'points/s',
      messagesPerS: round(messagesPerS, 1),
      ...ratio(messagesPerS),
      sent: run.sentPoints,
      stored: wait.stored,
      lost: Math.max(0, run.sentPoints - wait.stored),
      seconds: round(seconds, 2),
      pointsPerRequest: E2E_POINTS_PER_REQUEST,
      devices: devices.length,
      connections: E2E_HTTP_CONNECTIONS,
      sendS: round((run.endedAt - run.startedAt) / 1000, 2),
      // The rate the gateway answered 202 at, before storing caught up: the gap to `value` is ingest lagging.
      acceptedPointsPerS: round(run.sentPoints / ((run.endedAt - run.startedAt) / 1000), 1),
      requests: run.requests,
      p50: round(percentile(run.latenciesMs, 0.5), 1),
      p99: round(percentile(run.latenciesMs, 0.99), 1),
      ingestBacklogAtSendEnd: ingestAtEnd?.messageCount,
      ingestConsumers: ingestBefore?.consumerCount,
      storePollMs: STORE_POLL_MS,
      ...logged(),
    };
    if (wait.stored > run.sentPoints) line.extra = wait.stored - run.sentPoints;
    if (run.accepted < run.requests) line.statusCodes = run.statuses;
    if (run.failed > 0) Object.assign(line, { failedRequests: run.failed, firstError: run.firstError });
    if (wait.timedOut) line.storeTimedOut = true;
    if (deadBefore !== undefined && deadAfter !== undefined && deadAfter > deadBefore) line.deadLettered = deadAfter - deadBefore;
    return [line];
  });
}

/**
 * Publishes `messages` events of E2E_POINTS_PER_REQUEST points round-robin over the devices, as publishTelemetry
 * would (same exchange, routing key, CloudEvent and data), at most BUS_PUBLISH_WINDOW unconfirmed at once.
 */
async function publishTelemetryEvents(devices: ReadonlyArray<{ id: string; ownerId: string }>, clock: PointClock, messages: number): Promise<{ startedAt: number; endedAt: number }> {
  const bus = await createRabbitBus(AMQP_URL, { name: `bench-monitoring-${runId}-publisher` });
  try {
    const startedAt = performance.now();
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < messages; i += 1) {
      const device = devices[i % devices.length]!;
      const first = clock.take(device.id, E2E_POINTS_PER_REQUEST);
      const points = Array.from({ length: E2E_POINTS_PER_REQUEST }, (_, k) => ({ ts: first + k, values: { [TELEMETRY_KEY]: 20 + (k % 10) } }));
      const event = cloudEvent<TelemetryData>({
        type: eventTypes.telemetry,
        source: `/devices/${device.id}`,
        subject: device.id,
        data: { deviceId: device.id, ownerId: device.ownerId, via: 'http', receivedAt: Date.now(), points },
      });
      const sent = bus.publish(exchanges.telemetry, telemetryRoutingKey(device.id), eventMessage(event)).finally(() => inFlight.delete(sent));
      inFlight.add(sent);
      if (inFlight.size >= BUS_PUBLISH_WINDOW) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    return { startedAt, endedAt: performance.now() };
  } finally {
    await bus.close();
  }
}

async function ingestBusFigure(gateway: Gateway): Promise<void> {
  await figures(['monitoring.ingest.bus'], async () => {
    const db = requireStore();
    const devices = await createDevices(gateway, 'bus', E2E_HTTP_DEVICES);
    const ids = devices.map((d) => d.id);
    const owned = devices.map((d) => ({ id: d.id, ownerId: d.ownerId }));
    const clock = new PointClock(Date.now() - 3_600_000);

    await publishTelemetryEvents(owned, clock, BUS_WARMUP_MESSAGES);
    const warmPoints = BUS_WARMUP_MESSAGES * E2E_POINTS_PER_REQUEST;
    const warmStored = await db.waitStored(ids, warmPoints, { since: 0, timeoutMs: STORE_TIMEOUT_MS });
    if (warmStored.timedOut) throw new Error(`warm-up: ${warmStored.stored} of ${warmPoints} points stored after ${STORE_TIMEOUT_MS} ms`);

    const since = await db.count(ids);

    const ingestBefore = await ingestQueue();
    const deadBefore = await deadLetters();
    const logged = logsSince(gateway.child);
    const run = await publishTelemetryEvents(owned, clock, BUS_MESSAGES);
    const ingestAtEnd = await ingestQueue();
    const sent = BUS_MESSAGES * E2E_POINTS_PER_REQUEST;
    const wait = await db.waitStored(ids, sent, { since, timeoutMs: STORE_TIMEOUT_MS, intervalMs: STORE_POLL_MS });
    const deadAfter = await deadLetters();
    const seconds = (wait.at - run.startedAt) / 1000;
    const line: Line = {
      bench: 'monitoring.ingest.bus',
      value: round(Math.min(wait.stored, sent) / seconds, 1),
      unit: 'points/s',
      messagesPerS: round(BUS_MESSAGES / seconds, 1),
      sent,
      stored: wait.stored,
      lost: Math.max(0, sent - wait.stored),
      seconds: round(seconds, 2),
      messages: BUS_MESSAGES,
      pointsPerMessage: E2E_POINTS_PER_REQUEST,
      devices: devices.length,
      // How fast the bench put the events on the bus: the figure is the consumer's only while this is higher.
      publishedPointsPerS: round(sent / ((run.endedAt - run.startedAt) / 1000), 1),
      publishWindow: BUS_PUBLISH_WINDOW,
      ingestBacklogAtPublishEnd: ingestAtEnd?.messageCount,
      ingestConsumers: ingestBefore?.consumerCount,
      storePollMs: STORE_POLL_MS,
      ...logged(),
    };
    if (wait.stored > sent) line.extra = wait.stored - sent;
    if (wait.timedOut) line.storeTimedOut = true;
    if (deadBefore !== undefined && deadAfter !== undefined && deadAfter > deadBefore) line.deadLettered = deadAfter - deadBefore;
    return [line];
  });
}

async function e2eMqttFigure(gateway: Gateway): Promise<void> {
  await figures(['monitoring.e2e.mqtt'], async () => {
    const db = requireStore();
    const port = await freePort();
    // The platform's default number of bridge connections, not one of the bench's: mqtt.js hands the bridge
    // one PUBLISH at a time per connection (the next only after the PUBACK), so the connections bound its rate,
    // and the figure should follow the default when it changes.
    const mosquitto = await startBenchBroker();
    // The bridge's counters are on its internal port, not its public one.
    const metricsPort = await freePort();
    const bridgeEnv = { ...env, PORT: String(port), METRICS_PORT: String(metricsPort), MQTT_URL: mosquitto.platformUrl, MQTT_BRIDGE_GROUP: `bench-${runId}-monitoring` };
    const bridgeConnections = loadConfig({ ...process.env, ...bridgeEnv }).MQTT_BRIDGE_CONNECTIONS;
    const bridge = await startServer('bridge', process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', 'bridge'], bridgeEnv, port);
    // After the bridge: it gives the fresh broker each device's account from the device.created events its
    // queue receives, and that queue exists only once the bridge has started.
    const devices = await createDevices(gateway, 'mqtt', E2E_MQTT_DEVICES);
    const ids = devices.map((d) => d.id);
    const publishers: MqttPublisher[] = [];
    let polling = true;
    let poller: Promise<void> | undefined;
    try {
      publishers.push(...(await connectDevices(mosquitto.devicesUrl, devices)));
      // The stored count, refreshed all along: the publishers pause on it (see MQTT_MAX_BACKLOG).
      let storedNow = await db.count(ids);
      poller = (async () => {
        while (polling) {
          storedNow = await db.count(ids).catch(() => storedNow);
          await sleep(50);
        }
      })();
      const clock = new PointClock(Date.now() - 3_600_000);
      const backlogFrom = (since: number) => (sofar: { issued: number; failed: number; noSubscribers: number }) =>
        sofar.issued - sofar.failed - sofar.noSubscribers - (storedNow - since);

      const warmSince = storedNow;
      const warm = await publishMqttFor({ publishers, seconds: WARMUP_S, clock, backlog: backlogFrom(warmSince), maxBacklog: MQTT_MAX_BACKLOG });
      if (warm.acked === 0) throw new Error(`warm-up: no publish acknowledged (${warm.failed} failed, ${warm.noSubscribers} without subscriber, ${warm.firstError ?? ''})`);
      const warmStored = await db.waitStored(ids, warm.acked, { since: warmSince, timeoutMs: STORE_TIMEOUT_MS });
      if (warmStored.timedOut) throw new Error(`warm-up: ${warmStored.stored} of ${warm.acked} MQTT points stored after ${STORE_TIMEOUT_MS} ms`);
      const since = await db.count(ids);
      storedNow = since;

      const ingestBefore = await ingestQueue();
      const deadBefore = await deadLetters();
      const logged = logsSince(bridge, gateway.child);
      const bridgeBefore = await bridgeHandled(metricsPort);
      const run = await publishMqttFor({ publishers, seconds: E2E_MQTT_S, clock, backlog: backlogFrom(since), maxBacklog: MQTT_MAX_BACKLOG });
      const wait = await db.waitStored(ids, run.acked, { since, timeoutMs: STORE_TIMEOUT_MS, intervalMs: STORE_POLL_MS });
      const bridgeAfter = await bridgeHandled(metricsPort);
      const deadAfter = await deadLetters();
      const seconds = (wait.at - run.startedAt) / 1000;
      const rate = Math.min(wait.stored, run.acked) / seconds;
      const line: Line = {
        bench: 'monitoring.e2e.mqtt',
        value: round(rate, 1),
        unit: 'points/s',
        // One point per message.
        messagesPerS: round(rate, 1),
        ...ratio(rate),
        sent: run.acked,
        stored: wait.stored,
        lost: Math.max(0, run.acked - wait.stored),
        seconds: round(seconds, 2),
        publishS: round((run.endedAt - run.startedAt) / 1000, 2),
        devices: devices.length,
        qos: 1,
        bridgeConnections,
        maxBacklog: MQTT_MAX_BACKLOG,
        throttledMs: run.throttledMs,
        failedPublishes: run.failed,
        ingestConsumers: ingestBefore?.consumerCount,
        storePollMs: STORE_POLL_MS,
        ...logged(),
      };
      // The bridge subscribes to every device's topic on a broker others may use too (a simulator, a test):
      // what it handled beyond the bench's messages is traffic the figure competed with.
      if (bridgeBefore !== undefined && bridgeAfter !== undefined) {
        line.bridgeHandled = bridgeAfter - bridgeBefore;
        line.foreignMessages = Math.max(0, bridgeAfter - bridgeBefore - run.acked - run.failed);
      }
      if (run.noSubscribers > 0) line.noSubscribers = run.noSubscribers;
      if (run.firstError) line.firstError = run.firstError;
      if (wait.stored > run.acked) line.extra = wait.stored - run.acked;
      if (wait.timedOut) line.storeTimedOut = true;
      if (deadBefore !== undefined && deadAfter !== undefined && deadAfter > deadBefore) line.deadLettered = deadAfter - deadBefore;
      return [line];
    } finally {
      polling = false;
      await poller;
      await Promise.allSettled(publishers.map((p) => p.client.endAsync(true)));
      await stopChild(bridge);
      await mosquitto.stop();
      await deleteBridgeQueue(`bench-${runId}-monitoring`).catch(() => undefined);
    }
  });
}

/** MQTT messages the bridge has handled so far, whatever their outcome (its Prometheus counter); undefined if unreadable. */
async function bridgeHandled(port: number): Promise<number | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const text = await response.text();
    let total = 0;
    for (const match of text.matchAll(/^iotfn_mqtt_messages_total\{[^}]*\} (\d+)$/gm)) total += Number(match[1]);
    return total;
  } catch {
    return undefined;
  }
}

interface LiveRun {
  /** Milliseconds from each measured event's `ts` (the send time of its latest point) to its arrival. */
  latencies: number[];
  events: number;
  /** Requests answered 202 whose points were sent in the measured window: one event each without coalescing. */
  messagesMeasured: number;
  requests: number;
  accepted: number;
  statuses: Record<string, number>;
  failed: number;
  /** How late the sender fired against its schedule, p99 in ms: whether the bench kept the rate it claims. */
  sendLagP99: number;
  achievedRps: number;
  disconnected?: string;
}

/**
 * One device sends LIVE_RPS requests a second of LIVE_POINTS_PER_REQUEST points, the latest stamped with the
 * send time (the others a millisecond apart before it), while a Socket.IO client subscribed to the device
 * records each `telemetry` event's arrival − ts. The first WARMUP_S seconds are sent but not measured.
 */
async function liveRun(gateway: Gateway, device: BenchDevice): Promise<LiveRun> {
  const socket = await connectRelay(gateway.url, gateway.token);
  try {
    await subscribe(socket, [device.id]);
    const arrivals: Array<{ ts: number; ms: number }> = [];
    let disconnected: string | undefined;
    socket.on('disconnect', (reason: string) => (disconnected = reason));
    socket.on('telemetry', (event: { deviceId?: unknown; ts?: unknown }) => {
      const now = Date.now();
      if (event.deviceId === device.id && typeof event.ts === 'number') arrivals.push({ ts: event.ts, ms: now - event.ts });
    });

    const total = LIVE_RPS * (WARMUP_S + LIVE_S);
    const intervalMs = 1000 / LIVE_RPS;
    const statuses: Record<string, number> = {};
    let accepted = 0;
    let messagesMeasured = 0;
    let failed = 0;
    const lags: number[] = [];
    const inFlight = new Set<Promise<void>>();
    const measureFrom = Date.now() + WARMUP_S * 1000;
    const started = performance.now();
    for (let i = 0; i < total; i += 1) {
      const target = started + i * intervalMs;
      const wait = target - performance.now();
      if (wait > 0) await sleep(wait);
      lags.push(performance.now() - target);
      const now = Date.now();
      const measuredMessage = now >= measureFrom;
      const points = Array.from({ length: LIVE_POINTS_PER_REQUEST }, (_, k) => ({ ts: now - (LIVE_POINTS_PER_REQUEST - 1 - k), values: { [TELEMETRY_KEY]: 20 + k } }));
      const request = fetch(`${gateway.url}/telemetry`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Device ${device.token}` },
        body: JSON.stringify(points),
        signal: AbortSignal.timeout(10_000),
      }).then(
        async (response) => {
          await response.arrayBuffer();
          statuses[response.status] = (statuses[response.status] ?? 0) + 1;
          if (response.status === 202) {
            accepted += 1;
            if (measuredMessage) messagesMeasured += 1;
          }
        },
        () => void (failed += 1),
      );
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
    }
    const sendS = (performance.now() - started) / 1000;
    await Promise.allSettled([...inFlight]);
    // The last events may still be on their way (a coalescing window, the relay's queue).
    await sleep(1_000);
    const measured = arrivals.filter((a) => a.ts >= measureFrom);
    return {
      latencies: measured.map((a) => a.ms),
      events: measured.length,
      messagesMeasured,
      requests: total,
      accepted,
      statuses,
      failed,
      sendLagP99: round(percentile(lags, 0.99), 1),
      achievedRps: round(total / sendS, 1),
      ...(disconnected ? { disconnected } : {}),
    };
  } finally {
    socket.close();
  }
}

async function liveLatencyFigures(gateway: Gateway, prefix: string, coalesceMs: number): Promise<void> {
  await figures([`${prefix}.p50`, `${prefix}.p99`], async () => {
    const [device] = await createDevices(gateway, `live-${coalesceMs}`, 1);
    const logged = logsSince(gateway.child);
    const run = await liveRun(gateway, device!);
    if (run.events === 0) throw new Error(`no telemetry event arrived (${run.accepted} of ${run.requests} requests accepted, statuses ${JSON.stringify(run.statuses)})`);
    const context = {
      unit: 'ms' as const,
      coalesceMs,
      sending: `${LIVE_RPS} requests/s × ${LIVE_POINTS_PER_REQUEST} points = ${LIVE_RPS * LIVE_POINTS_PER_REQUEST} points/s, one device, over HTTP`,
      measuredS: LIVE_S,
      warmupS: WARMUP_S,
      // Percentiles are over the events that arrived. Without coalescing each message should be one event; with
      // it, about one per window. Fewer means the relay dropped updates (its emits are volatile).
      events: run.events,
      messagesMeasured: run.messagesMeasured,
      ...(coalesceMs > 0 ? { windows: Math.round((LIVE_S * 1000) / coalesceMs) } : {}),
      requests: run.requests,
      accepted: run.accepted,
      achievedRps: run.achievedRps,
      sendLagP99Ms: run.sendLagP99,
      max: Math.max(...run.latencies),
      ...(run.failed > 0 ? { failedRequests: run.failed } : {}),
      ...(run.accepted < run.requests ? { statusCodes: run.statuses } : {}),
      ...(run.disconnected ? { disconnected: run.disconnected } : {}),
      ...logged(),
    };
    return [
      { bench: `${prefix}.p50`, value: percentile(run.latencies, 0.5), ...context },
      { bench: `${prefix}.p99`, value: percentile(run.latencies, 0.99), ...context },
    ];
  });
}

/**
 * Thirty days of history straight into the table (generate_series), for devices made through the API, its
 * rollups rebuilt as after any bulk load, then GET /devices/{id}/telemetry?interval=1h&agg=avg under autocannon:
 * 720 hourly buckets of one key either way.
 *   43k: one point a minute (43,200).   1m: one point every 2.592 s (1,000,000), the same key, the same 30 days.
 *   10m: ten devices of a million points each (10,000,000 in the table); the query asks for the last one's.
 * The seed of the first million is also `monitoring.store.raw-insert`: what PostgreSQL inserts into the telemetry
 * table by itself, the limit beside `monitoring.e2e.http`.
 */
async function queryFigures(gateway: Gateway): Promise<void> {
  const sets = [
    { label: '43k', rows: 43_200, stepMs: 60_000, seconds: 5, devices: 1 },
    { label: '1m', rows: 1_000_000, stepMs: 2_592, seconds: 5, devices: 1 },
    { label: '10m', rows: 1_000_000, stepMs: 2_592, seconds: 5, devices: 10 },
  ] as const;
  const queryNames = (set: { label: string }) => [`monitoring.query.${set.label}.p50`, `monitoring.query.${set.label}.p99`];
  // The 1m set's seed is also the raw-insert figure, so asking for that one alone seeds it too.
  const seededFor = (set: { label: string }) => [...queryNames(set), ...(set.label === '1m' ? ['monitoring.store.raw-insert'] : [])];
  const names = sets.flatMap(queryNames);
  // Seeding a million rows is most of this step's time: none of it when no figure of it is asked for.
  if (!wanted(sets.flatMap(seededFor))) return;
  let seeded: Array<{ label: string; rows: number; stepMs: number; seconds: number; devices: number; device: BenchDevice; seedS: number; rollupS: number }>;
  // Whole hours, so the hourly buckets line up with the series: 720 full buckets.
  const to = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  const from = to - 30 * DAY_MS;
  try {
    const db = requireStore();
    seeded = [];
    for (const set of sets) {
      if (!wanted(seededFor(set))) continue;
      const devices = await createDevices(gateway, `query-${set.label}`, set.devices);
      let seedS = 0;
      let rollupS = 0;
      for (const device of devices) {
        const seed = await db.seedSeries(device.id, TELEMETRY_KEY, from, set.stepMs, set.rows);
        if (seed.rows !== set.rows) throw new Error(`seeded ${seed.rows} rows, expected ${set.rows}`);
        seedS += seed.insertS;
        rollupS += seed.rollupS;
        if (set.label === '1m') await rawInsertFigure(seed);
      }
      seeded.push({ ...set, device: devices.at(-1)!, seedS: round(seedS, 2), rollupS: round(rollupS, 2) });
      progress(`seeded ${set.rows * set.devices} points in ${round(seedS, 1)} s, rolled up in ${round(rollupS, 1)} s`);
    }
    await db.analyze();
  } catch (error) {
    await figures(names, () => Promise.reject(error as Error));
    return;
  }

  for (const set of seeded) {
    await figures(queryNames(set), async () => {
      const path = `/devices/${set.device.id}/telemetry?keys=${TELEMETRY_KEY}&from=${from}&to=${to}&interval=1h&agg=avg`;
      const headers = { authorization: `Bearer ${gateway.token}` };
      // One answer first: the query must work and cover every seeded point, or the figure measures something else.
      const answer = (await call(gateway.url, 'GET', path, 200, undefined, headers, 60_000)) as { items: Array<{ count: number }> };
      const counted = answer.items.reduce((n, item) => n + item.count, 0);
      if (counted !== set.rows) throw new Error(`the buckets hold ${counted} points, expected ${set.rows}`);
      const options = { url: gateway.url + path, connections: QUERY_CONNECTIONS, headers };
      await runLoad({ ...options, durationS: WARMUP_S });
      const latencies: number[] = [];
      const logged = logsSince(gateway.child);
      const run = await runLoad({ ...options, durationS: set.seconds, onResponse: (status, ms) => status === 200 && latencies.push(ms) });
      const { result } = run;
      const context = {
        unit: 'ms' as const,
        query: 'keys=temperature&from=<30 days ago>&to=<now>&interval=1h&agg=avg',
        points: set.rows,
        pointsInTable: set.rows * set.devices,
        pointEveryMs: set.stepMs,
        keys: 1,
        buckets: answer.items.length,
        seedS: set.seedS,
        rollupS: set.rollupS,
        reqPerS: round(latencies.length / run.elapsedS, 1),
        connections: QUERY_CONNECTIONS,
        durationS: set.seconds,
        requests: result.requests.total,
        errors: result.errors,
        timeouts: result.timeouts,
        non2xx: result.non2xx,
        ...(result.non2xx > 0 ? { statusCodes: statusCounts(result) } : {}),
        ...(run.stoppedEarly ? { stoppedEarly: true } : {}),
        ...logged(),
      };
      return [
        { bench: `monitoring.query.${set.label}.p50`, value: round(percentile(latencies, 0.5), 1), ...context },
        { bench: `monitoring.query.${set.label}.p99`, value: round(percentile(latencies, 0.99), 1), ...context },
      ];
    });
  }
}

/** The first million-point seed, as a figure: PostgreSQL's own insert rate into the telemetry table. */
async function rawInsertFigure(seed: { rows: number; insertS: number }): Promise<void> {
  await figures(['monitoring.store.raw-insert'], async () => [
    {
      bench: 'monitoring.store.raw-insert',
      value: round(seed.rows / seed.insertS, 1),
      unit: 'points/s',
      rows: seed.rows,
      seconds: round(seed.insertS, 2),
      how: 'one INSERT … SELECT generate_series of one key, into the day partitions (primary key + (device_id, ts) index), no rollups',
    },
  ]);
}

/**
 * Retention by partitions: one day of RETENTION_DAY_POINTS points dropped whole (what expireTelemetry does),
 * beside a DELETE of the same number of rows of another day (what it did before partitions). Both days are in
 * 2001, older than anything else in the table, so the drop removes only the bench's day.
 */
async function retentionFigures(): Promise<void> {
  const names = ['monitoring.retention.drop-day', 'monitoring.retention.delete-day'];
  if (!wanted(names)) return;
  const db = requireStore();
  const day = Date.UTC(2001, 0, 1);
  const deviceId = randomUUID();
  const stepMs = DAY_MS / RETENTION_DAY_POINTS;
  await figures(names, async () => {
    await db.seedSeries(deviceId, TELEMETRY_KEY, day, stepMs, RETENTION_DAY_POINTS);
    await db.seedSeries(deviceId, TELEMETRY_KEY, day + DAY_MS, stepMs, RETENTION_DAY_POINTS);
    await db.analyze();
    const deleteStarted = performance.now();
    const deleted = await db.deleteRange(deviceId, day + DAY_MS, day + 2 * DAY_MS);
    const deleteMs = performance.now() - deleteStarted;
    const dropStarted = performance.now();
    const dropped = await db.dropDaysBefore(day + DAY_MS);
    const dropMs = performance.now() - dropStarted;
    await db.dropDaysBefore(day + 2 * DAY_MS);
    await db.deleteTelemetry([deviceId]);
    if (deleted !== RETENTION_DAY_POINTS) throw new Error(`deleted ${deleted} rows, expected ${RETENTION_DAY_POINTS}`);
    const context = { unit: 'ms' as const, points: RETENTION_DAY_POINTS };
    return [
      { bench: 'monitoring.retention.drop-day', value: round(dropMs, 1), ...context, dropped, how: 'telemetry_partitions_drop: the day partition dropped whole' },
      { bench: 'monitoring.retention.delete-day', value: round(deleteMs, 1), ...context, how: 'DELETE of the same number of rows of the day after, by device and time' },
    ];
  });
}

/** RSS moves with the garbage collector's rhythm; the median of a few samples half a second apart moves less. */
async function settledResident(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    if (i > 0) await sleep(500);
    samples.push(await residentBytes(pid));
  }
  return percentile(samples, 0.5);
}

async function relayMemoryFigure(token: string): Promise<void> {
  await figures(['relay.memory-per-1000-sockets'], async () => {
    const port = await freePort();
    // One bench user holds all 1,000 sockets: the per-user cap (RELAY_MAX_SOCKETS_PER_USER) is lifted for it.
    const relay = await startServer('relay', process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', 'relay'], { ...env, PORT: String(port), RELAY_MAX_SOCKETS_PER_USER: '2000' }, port);
    const url = `http://127.0.0.1:${port}`;
    const pid = relay.process.pid;
    if (pid === undefined) throw new Error('the relay has no pid');
    let sockets: Awaited<ReturnType<typeof connectMany>> = [];
    try {
      // A few clients first, so the code of the handshake path (socket.io, ws, token checks) is loaded and
      // compiled before the baseline, and the figure is what sockets cost, not what the first one brings in.
      closeAll(await connectMany(url, token, 10, 10));
      await sleep(1_000);
      const before = await settledResident(pid);
      const logged = logsSince(relay);
      const started = performance.now();
      sockets = await connectMany(url, token, RELAY_SOCKETS, RELAY_BATCH);
      const connectS = (performance.now() - started) / 1000;
      // Let the per-socket state settle (session checks run every 2 s) before reading.
      await sleep(2_000);
      const after = await settledResident(pid);
      const connected = sockets.filter((s) => s.connected).length;
      if (relay.process.exitCode !== null || relay.process.signalCode !== null) throw new Error(`the relay exited (${await relay.exited})`);
      const deltaMb = (after - before) / 2 ** 20;
      return [
        {
          bench: 'relay.memory-per-1000-sockets',
          value: round((deltaMb * 1000) / Math.max(1, connected), 2),
          unit: 'MB',
          sockets: RELAY_SOCKETS,
          connectedAtEnd: connected,
          rssBeforeMb: round(before / 2 ** 20, 1),
          rssAfterMb: round(after / 2 ** 20, 1),
          deltaMb: round(deltaMb, 2),
          connectS: round(connectS, 2),
          batch: RELAY_BATCH,
          transport: 'websocket',
          measure: 'VmRSS of the iotfn relay process (median of 5 samples, 0.5 s apart), idle authenticated sockets, no subscriptions',
          ...logged(),
        },
      ];
    } finally {
      closeAll(sockets);
      await stopChild(relay);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------

/** Deletes the bench devices' telemetry (bounded), then stops children and removes the run's Redis keys. */
async function cleanUp(): Promise<void> {
  if (store && benchDevices.size > 0) {
    const started = performance.now();
    await store
      .deleteTelemetry([...benchDevices])
      .then((rows) => progress(`deleted ${rows} telemetry rows of ${benchDevices.size} bench devices in ${Math.round(performance.now() - started)} ms`))
      .catch((error: Error) => progress(`could not delete the bench devices' telemetry: ${error.message}`));
  }
  await stopAll();
  await broker?.close().catch(() => {});
  await store?.close().catch(() => {});
  await deleteRunKeys();
}

/** The uncoalesced live figure, on a gateway of its own started with RELAY_COALESCE_MS=0. */
async function liveGatewayFigures(): Promise<void> {
  const names = ['monitoring.live-latency.p50', 'monitoring.live-latency.p99'];
  if (!wanted(names)) return;
  let live: Gateway | undefined;
  try {
    live = await startGateway('gateway-coalesce-0', { RELAY_COALESCE_MS: '0' });
    await liveLatencyFigures(live, 'monitoring.live-latency', 0);
  } catch (error) {
    await figures(names, () => Promise.reject(error as Error));
  } finally {
    if (live) await stopChild(live.child);
  }
}

/** Everything that runs against the gateway with the default coalescing window. */
async function gatewayFigures(): Promise<void> {
  const names = ['monitoring.e2e.http', 'monitoring.ingest.bus', 'monitoring.e2e.mqtt', 'monitoring.live-latency.coalesce-100.p50', 'monitoring.live-latency.coalesce-100.p99',
    'monitoring.query.43k.p50', 'monitoring.query.43k.p99', 'monitoring.query.1m.p50', 'monitoring.query.1m.p99', 'monitoring.query.10m.p50', 'monitoring.query.10m.p99',
    'monitoring.store.raw-insert', 'monitoring.retention.drop-day', 'monitoring.retention.delete-day', 'relay.memory-per-1000-sockets'];
  if (!wanted(names)) return;
  let gateway: Gateway;
  try {
    gateway = await startGateway('gateway', {});
  } catch (error) {
    await figures(names, () => Promise.reject(error as Error));
    return;
  }
  try {
    await e2eHttpFigure(gateway);
    await ingestBusFigure(gateway);
    await e2eMqttFigure(gateway);
    await liveLatencyFigures(gateway, 'monitoring.live-latency.coalesce-100', 100);
    await queryFigures(gateway);
    await retentionFigures();
    await relayMemoryFigure(gateway.token);
    const { errorLines, warnLines } = gateway.child;
    if (errorLines > 0 || warnLines > 0) progress(`gateway logged ${errorLines} error and ${warnLines} warn lines in all`);
  } finally {
    await stopChild(gateway.child);
  }
}

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    progress(`watchdog: still running after ${WATCHDOG_S} s, stopping`);
    void cleanUp().finally(() => process.exit(1));
  }, WATCHDOG_S * 1000);
  watchdog.unref();
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => void cleanUp().finally(() => process.exit(code)));
  }
  const started = performance.now();

  try {
    store = openBenchStore();
    // A fresh database (a new machine, BENCH_ONLY without bench/run.ts before it) has no tables yet.
    await store.migrate();
    await store.count([]);
    broker = await openBroker();
    await brokerFigure();

    // The live figure first, on a gateway of its own: RELAY_COALESCE_MS is read at start-up.
    await liveGatewayFigures();

    await gatewayFigures();
  } finally {
    await cleanUp();
    progress(`monitoring bench done in ${Math.round((performance.now() - started) / 1000)} s`);
  }
  if (failures.length > 0) {
    progress(`failed: ${failures.join(', ')}`);
    process.exitCode = 1;
  }
  // Keep-alive sockets from fetch would otherwise hold the process open for a few seconds more.
  process.exit();
}

await main();
