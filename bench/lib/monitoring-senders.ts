/**
 * Devices that send telemetry for the monitoring bench: over HTTP (`POST /telemetry`) and over MQTT 5 through
 * Mosquitto, every point one key at a timestamp no other point of its device has, so every point accepted is
 * exactly one row once stored (the table's key is device, key, ts; a repeated ts would overwrite, and the count
 * would come out short for no fault of the platform).
 *
 *   const clock = new PointClock(Date.now() - 3_600_000);
 *   const http = await sendHttpFor({ url, devices, connections: 20, seconds: 8, pointsPerRequest: 100, clock });
 *   const mqtt = await publishMqttFor({ publishers, seconds: 6, clock, backlog: (sofar) => sofar.acked - stored, maxBacklog: 2_000 });
 *
 * Both loops stop starting new messages after `seconds` and then wait for every message in flight to be
 * answered (bounded), so `sent` counts every accepted point and nothing the server finishes later is missed.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MqttClient } from 'mqtt';

export interface BenchDevice {
  id: string;
  token: string;
}

/** Hands out each device's timestamps: one millisecond apart, from a start in the past, never twice. */
export class PointClock {
  private readonly next = new Map<string, number>();
  constructor(private readonly startMs: number) {}

  take(deviceId: string, count: number): number {
    const first = this.next.get(deviceId) ?? this.startMs;
    this.next.set(deviceId, first + count);
    return first;
  }
}

export const TELEMETRY_KEY = 'temperature';

/** `count` points of one key, consecutive timestamps from `firstTs`: the body of one HTTP request. */
export function pointsBody(firstTs: number, count: number): string {
  const points = Array.from({ length: count }, (_, i) => ({ ts: firstTs + i, values: { [TELEMETRY_KEY]: Math.round((20 + Math.sin((firstTs + i) / 1000) * 5) * 100) / 100 } }));
  return JSON.stringify(points);
}

export interface HttpSendOptions {
  url: string;
  devices: readonly BenchDevice[];
  /** Requests in flight at once, spread over the devices in turn. */
  connections: number;
  seconds: number;
  pointsPerRequest: number;
  clock: PointClock;
  /** Per-request timeout; the loop as a whole ends at most this long after `seconds`. */
  requestTimeoutMs?: number;
}

export interface HttpSendResult {
  requests: number;
  /** Requests answered 202 (the broker confirmed the message). */
  accepted: number;
  /** Points in the 202-answered requests. */
  sentPoints: number;
  statuses: Record<string, number>;
  /** Requests that got no answer at all (connection error, timeout), with the first error's text. */
  failed: number;
  firstError?: string;
  /** performance.now() of the first request and of the last answer. */
  startedAt: number;
  endedAt: number;
  latenciesMs: number[];
}

export async function sendHttpFor(options: HttpSendOptions): Promise<HttpSendResult> {
  if (new URL(options.url).hostname !== '127.0.0.1') throw new Error(`refusing to send to ${options.url}: only 127.0.0.1 is a target`);
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const result: HttpSendResult = { requests: 0, accepted: 0, sentPoints: 0, statuses: {}, failed: 0, startedAt: performance.now(), endedAt: 0, latenciesMs: [] };
  const stopAt = result.startedAt + options.seconds * 1000;
  // node:http on one keep-alive socket per sender, not fetch: the load shares two cores with the platform it
  // measures, and fetch (undici, a stream and an AbortSignal timer per request) spent ~0.9 ms of CPU per request
  // here, 39 % of a core at 430 requests/s, taken from the gateway and PostgreSQL.
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  let turn = 0;
  try {
    await Promise.all(
      Array.from({ length: options.connections }, async () => {
        while (performance.now() < stopAt) {
          const device = options.devices[turn++ % options.devices.length]!;
          const body = pointsBody(options.clock.take(device.id, options.pointsPerRequest), options.pointsPerRequest);
          result.requests += 1;
          const sent = performance.now();
          try {
            const status = await post(options.url, agent, { 'content-type': 'application/json', authorization: `Device ${device.token}` }, body, timeoutMs);
            result.statuses[status] = (result.statuses[status] ?? 0) + 1;
            if (status === 202) {
              result.accepted += 1;
              result.sentPoints += options.pointsPerRequest;
            }
            result.latenciesMs.push(performance.now() - sent);
          } catch (error) {
            result.failed += 1;
            result.firstError ??= describe(error);
          }
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  result.endedAt = performance.now();
  return result;
}

/** One POST; resolves with the status once the whole answer is read. */
function post(url: string, agent: Agent, headers: Record<string, string>, body: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, timeout: timeoutMs }, (res) => {
      res.on('error', reject);
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.resume();
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface MqttPublisher {
  client: MqttClient;
  device: BenchDevice;
}

export interface MqttSendOptions {
  publishers: readonly MqttPublisher[];
  seconds: number;
  clock: PointClock;
  /** Published but not yet stored, given the tally so far; the publishers pause while it is at `maxBacklog` or more. */
  backlog: (sofar: Readonly<MqttSendResult>) => number;
  maxBacklog: number;
}

export interface MqttSendResult {
  issued: number;
  /** PUBACKed with success: Mosquitto has it and a subscriber (the bridge) will get it. */
  acked: number;
  /** PUBACKed with 0x10: nobody subscribed, the message went nowhere. */
  noSubscribers: number;
  /** Refused (another reason code) or failed (connection). */
  failed: number;
  firstError?: string;
  startedAt: number;
  endedAt: number;
  /** Milliseconds the publishers spent paused on the backlog, averaged over publishers. */
  throttledMs: number;
}

/** Every publisher sends one message at a time (QoS 1), the next as soon as Mosquitto's PUBACK is back. */
export async function publishMqttFor(options: MqttSendOptions): Promise<MqttSendResult> {
  const result: MqttSendResult = { issued: 0, acked: 0, noSubscribers: 0, failed: 0, startedAt: performance.now(), endedAt: 0, throttledMs: 0 };
  const stopAt = result.startedAt + options.seconds * 1000;
  let throttled = 0;
  await Promise.all(
    options.publishers.map(async ({ client, device }) => {
      const topic = `devices/${device.id}/telemetry`;
      const publishOptions = { qos: 1 as const };
      while (performance.now() < stopAt) {
        if (options.backlog(result) >= options.maxBacklog) {
          const waitStarted = performance.now();
          while (options.backlog(result) >= options.maxBacklog && performance.now() < stopAt) await sleep(2);
          throttled += performance.now() - waitStarted;
          continue;
        }
        const ts = options.clock.take(device.id, 1);
        result.issued += 1;
        try {
          const ack = await client.publishAsync(topic, JSON.stringify({ ts, values: { [TELEMETRY_KEY]: 21.5 } }), publishOptions);
          const code = ack?.cmd === 'puback' ? (ack.reasonCode ?? 0) : 0;
          if (code === 0) result.acked += 1;
          else if (code === 0x10) result.noSubscribers += 1;
          else {
            result.failed += 1;
            result.firstError ??= `PUBACK reason code 0x${code.toString(16)}`;
          }
        } catch (error) {
          result.failed += 1;
          result.firstError ??= describe(error);
        }
      }
    }),
  );
  result.endedAt = performance.now();
  result.throttledMs = Math.round(throttled / Math.max(1, options.publishers.length));
  return result;
}

/** fetch reports every network failure as "fetch failed"; the cause says which (ECONNRESET, a timeout). */
export function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
