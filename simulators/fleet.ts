/**
 * The fleet simulator: provisions N devices through the API (or reuses given ones), then each device sends
 * believable telemetry (see signals.ts) over MQTT or HTTP at a set rate until the duration or the message
 * count runs out, and reports what the platform acknowledged. Each device also follows its configuration
 * (`interval` sets its pace) and answers commands (device-control.ts), unless the run is telemetry only.
 *
 * As a library: `const summary = await runFleet({ url, credentials, count: 5, ... })`.
 * As a program: `node --import tsx simulators/fleet.ts --url http://localhost:8080 --email … --password …
 * --count 20 --rate 1 --duration 60` prints a progress line on stderr and the summary as JSON on stdout.
 */
import { setMaxListeners } from 'node:events';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeDeviceCredentials, type DeviceCredentials } from './device-credentials.ts';
import { fleetUsage, HelpRequested, parseFleetArgs, UsageError } from './fleet-options.ts';
import { DeviceControl } from './device-control.ts';
import { FleetStats, type DeviceCount } from './fleet-stats.ts';
import { httpUplink } from './http-uplink.ts';
import { mqttUplink, type BrokerKind } from './mqtt-uplink.ts';
import { namedBroker, provisionDevices, signIn, storedValues } from './platform-api.ts';
import { startProgressLine, type ProgressOutput } from './progress-line.ts';
import { readingAt, type SignalOptions } from './signals.ts';
import { UplinkError, type DeviceUplink, type UplinkFactory } from './uplink.ts';

export interface FleetOptions {
  /** The platform's API, e.g. http://localhost:8080. */
  url: string;
  /** The user who owns the provisioned devices; registered if unknown. Not needed with `devices`. */
  credentials?: { email: string; password: string } | undefined;
  /** Devices to reuse instead of provisioning new ones. */
  devices?: DeviceCredentials[] | undefined;
  count: number;
  /** Messages per second per device, while the device's configuration sets no `interval`. */
  ratePerDevice: number;
  durationMs: number;
  messagesPerDevice?: number | undefined;
  transport: 'mqtt' | 'http';
  /** Which broker `mqttUrl` is; with neither given, the platform's GET /info says both. */
  broker?: BrokerKind | undefined;
  mqttUrl?: string | undefined;
  seed: number;
  /** Devices only send telemetry: no configuration, state or commands (no long polls over HTTP). */
  telemetryOnly?: boolean | undefined;
  signals?: SignalOptions | undefined;
  /** Writes the provisioned devices' ids and tokens to this file. */
  saveDevicesTo?: string | undefined;
  /** Where the progress line and first-error notes go; none when absent. */
  progress?: ProgressOutput | undefined;
  /** Stops the run early (what Ctrl-C does); the summary still comes. */
  signal?: AbortSignal | undefined;
  /** How long the end-of-run check waits for the platform to store what was acknowledged (default 20 s). */
  storedWaitMs?: number | undefined;
}

export interface FleetSummary {
  transport: 'mqtt' | 'http';
  broker: BrokerKind | null;
  seed: number;
  devices: number;
  ratePerDevice: number;
  /** The rate the fleet was asked for: devices × rate. */
  targetPerSecond: number;
  /** From the first message to the last acknowledgement. */
  durationMs: number;
  sent: number;
  acked: number;
  errors: number;
  errorKinds: Record<string, number>;
  /** Readings a dropout skipped (never sent). */
  dropouts: number;
  /** Slots that passed while a device still waited for its previous acknowledgement (the platform was slower than the rate). */
  missed: number;
  /** Values in the acknowledged messages: what storage should hold. */
  valuesAcked: number;
  ackedPerSecond: number;
  /** Configuration versions the devices applied. */
  configsApplied: number;
  /** Commands the devices answered (each id once). */
  commandsAnswered: number;
  /**
   * Values the platform stored from this run, asked through its API at the end (acknowledged is not stored: a
   * broker acknowledges what no platform may ever see). Null when the run had no user to ask as (--devices).
   */
  valuesStored: number | null;
  /** Devices with fewer values stored than acknowledged, once the wait for ingest was over. */
  devicesShort: number | null;
}

export interface FleetResult extends FleetSummary {
  perDevice: DeviceCount[];
}

const connectConcurrency = 50;
const dayMs = 86_400_000;

interface ConnectedDevice {
  uplink: DeviceUplink;
  control: DeviceControl;
}

/**
 * Connects every device and starts its control (unless `listen` is false), a bounded number at a time; a
 * device that cannot connect is counted and left out. One whose control failed to start still sends telemetry.
 */
async function connectAll(devices: DeviceCredentials[], connect: UplinkFactory, control: (uplink: DeviceUplink) => DeviceControl, listen: boolean, stats: FleetStats, note: (kind: string, message: string) => void) {
  const connected: Array<ConnectedDevice | undefined> = new Array(devices.length);
  let next = 0;
  const worker = async () => {
    while (next < devices.length) {
      const index = next++;
      let uplink: DeviceUplink;
      try {
        uplink = await connect(devices[index]!);
      } catch (error) {
        const kind = error instanceof UplinkError ? error.kind : 'connect';
        stats.fail(kind);
        note(kind, (error as Error).message);
        continue;
      }
      connected[index] = { uplink, control: control(uplink) };
      // Counted where it failed.
      if (listen) await connected[index].control.start().catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(connectConcurrency, devices.length) }, worker));
  return connected;
}

/**
 * The broker to send through: the one asked for, else the one the platform names at GET /info. Never a guess:
 * a guessed mqtt://host:1883 can be another broker, which would be handed every device's token.
 */
async function brokerFor(url: string, options: FleetOptions): Promise<[string, BrokerKind]> {
  if (options.mqttUrl) return [options.mqttUrl, options.broker ?? 'mosquitto'];
  const named = await namedBroker(url);
  if (!named) throw new Error(`${url} names no MQTT endpoint (GET /info): send over HTTP with --http, or name the broker with --mqtt-url`);
  return [named.url, options.broker ?? named.broker];
}

export async function runFleet(options: FleetOptions): Promise<FleetResult> {
  const url = options.url.replace(/\/+$/, '');
  // Asked before any device is provisioned: a platform with no broker to name gets no devices made for nothing.
  const brokerUsed = options.transport === 'mqtt' ? await brokerFor(url, options) : undefined;
  let devices = options.devices?.slice(0, options.count);
  // The user's token, when there is a user: it provisions the devices and, at the end, asks what was stored.
  const accessToken = options.credentials ? await signIn(url, options.credentials) : undefined;
  if (!devices) {
    if (!accessToken) throw new Error('runFleet needs credentials to provision devices, or devices to reuse');
    devices = await provisionDevices(url, accessToken, options.count, options.seed);
    if (options.saveDevicesTo) writeDeviceCredentials(options.saveDevicesTo, devices);
  }

  const stats = new FleetStats();
  const noted = new Set<string>();
  const note = (kind: string, message: string) => {
    if (noted.has(kind)) return;
    noted.add(kind);
    options.progress?.write(`${options.progress.isTTY ? '\r\x1b[2K' : ''}first ${kind} error: ${message}\n`);
  };

  const periodMs = 1000 / options.ratePerDevice;
  const connect = brokerUsed ? mqttUplink(...brokerUsed) : httpUplink(url);
  const onError = (error: UplinkError) => {
    stats.fail(error.kind);
    note(error.kind, error.message);
  };
  const connected = await connectAll(devices, connect, (uplink) => new DeviceControl(uplink, periodMs, stats, onError), !options.telemetryOnly, stats, note);

  // One listener per sleeping device on one signal is expected here, not a leak.
  const stop = new AbortController();
  setMaxListeners(devices.length + 10, stop.signal);
  const stopRun = () => stop.abort();
  options.signal?.addEventListener('abort', stopRun, { once: true });
  if (options.signal?.aborted) stop.abort();

  const maxMessages = options.messagesPerDevice ?? Number.POSITIVE_INFINITY;
  const startedAt = Date.now();
  // Every value of this run is dated at or after this (lastTs starts from the wall clock), none of an earlier run's.
  const runFrom = startedAt;
  // The daily cycle follows the clock unless the caller pins it (a test, or a repeat of an earlier run).
  const signals: SignalOptions = { startTimeOfDayMs: startedAt % dayMs, ...options.signals };
  const progress = options.progress ? startProgressLine(stats, options.progress) : undefined;
  let lastAckAt = startedAt;

  const runDevice = async (index: number, device: DeviceCredentials, { uplink, control }: ConnectedDevice) => {
    const count = stats.device(device.id);
    // Slot n is due `origin + n × pace` ms into the run. Devices are spread evenly over one period so the
    // platform sees a steady stream, not bursts.
    let pace = control.periodMs;
    let origin = (pace * index) / devices.length;
    let slot = 0;
    /** When the last reading was due: a new pace counts from there. */
    let lastAt = origin - pace;
    let lastTs = 0;
    // Slots that pass while a send waits are skipped, not sent in a burst after it: the offered load never
    // exceeds the rate asked for, and the run ends on time.
    const nextSlot = () => {
      const next = Math.max(slot + 1, Math.ceil((Date.now() - startedAt - origin) / pace));
      stats.missed += next - slot - 1;
      slot = next;
    };
    let taken = 0;
    while (taken < maxMessages && !stop.signal.aborted) {
      if (control.periodMs !== pace) {
        // A new interval: the next reading is due one new period after the last one (at once if that passed).
        pace = control.periodMs;
        origin = lastAt;
        slot = Math.max(1, Math.ceil((Date.now() - startedAt - origin) / pace));
      }
      const elapsedMs = origin + slot * pace;
      if (elapsedMs >= options.durationMs) break;
      await control.sleepUntil(startedAt + elapsedMs, stop.signal);
      if (stop.signal.aborted) break;
      if (control.periodMs !== pace) continue;
      lastAt = elapsedMs;
      taken++;
      // The slot's time, not the wall clock, picks the reading: a slow platform does not change the series.
      const reading = readingAt(options.seed, index, elapsedMs, signals);
      if (!reading) {
        stats.dropouts++;
        nextSlot();
        continue;
      }
      // Strictly increasing per device: storage keys a value by (device, key, ts), so equal times would merge.
      lastTs = Math.max(Date.now(), lastTs + 1);
      const values = { ...reading };
      stats.sent++;
      try {
        await uplink.send({ ts: lastTs, values });
        stats.ack(count, Object.keys(values).length);
        lastAckAt = Date.now();
      } catch (error) {
        const kind = error instanceof UplinkError ? error.kind : 'unexpected';
        stats.fail(kind);
        note(kind, (error as Error).message);
      }
      nextSlot();
    }
  };

  try {
    await Promise.all(devices.map((device, index) => (connected[index] ? runDevice(index, device, connected[index]) : undefined)));
  } finally {
    options.signal?.removeEventListener('abort', stopRun);
    progress?.stop();
    for (const c of connected) c?.control.close();
    await Promise.allSettled(connected.map((c) => c?.uplink.close()));
  }

  const durationMs = Math.max(1, lastAckAt - startedAt);
  const stored = accessToken ? await waitStored(url, accessToken, stats.perDevice, runFrom, options.progress, options.storedWaitMs) : undefined;
  return {
    transport: options.transport,
    broker: brokerUsed?.[1] ?? null,
    seed: options.seed,
    devices: devices.length,
    ratePerDevice: options.ratePerDevice,
    targetPerSecond: devices.length * options.ratePerDevice,
    durationMs,
    sent: stats.sent,
    acked: stats.acked,
    errors: stats.errors,
    errorKinds: Object.fromEntries(stats.errorKinds),
    dropouts: stats.dropouts,
    missed: stats.missed,
    valuesAcked: stats.valuesAcked,
    ackedPerSecond: Math.round((stats.acked * 1000 * 10) / durationMs) / 10,
    configsApplied: stats.configsApplied,
    commandsAnswered: stats.commandsAnswered,
    valuesStored: stored?.values ?? null,
    devicesShort: stored?.short ?? null,
    perDevice: stats.perDevice,
  };
}

/** How long the end-of-run check waits, by default, for ingest to store what was acknowledged. */
const defaultStoredWaitMs = 20_000;

/**
 * Asks the platform, device by device, how many values it stored since the run began, until every device has at
 * least what it acknowledged or storedWaitMs passed (ingest runs behind the broker and the bus).
 */
async function waitStored(url: string, accessToken: string, perDevice: readonly DeviceCount[], from: number, progress: ProgressOutput | undefined, storedWaitMs = defaultStoredWaitMs): Promise<{ values: number; short: number }> {
  const deadline = Date.now() + storedWaitMs;
  const stored = new Map<string, number>();
  for (;;) {
    const pending = perDevice.filter((device) => (stored.get(device.id) ?? -1) < device.valuesAcked);
    for (let i = 0; i < pending.length; i += 20) {
      const batch = pending.slice(i, i + 20);
      const counts = await Promise.all(batch.map((device) => storedValues(url, accessToken, device.id, from)));
      batch.forEach((device, k) => stored.set(device.id, counts[k]!));
    }
    const short = perDevice.filter((device) => (stored.get(device.id) ?? 0) < device.valuesAcked).length;
    if (short === 0 || Date.now() > deadline) {
      const values = perDevice.reduce((sum, device) => sum + (stored.get(device.id) ?? 0), 0);
      if (short > 0) progress?.write(`${short} of ${perDevice.length} devices have fewer values stored than acknowledged after ${storedWaitMs / 1000} s\n`);
      return { values, short };
    }
    await sleep(500);
  }
}

/** `fleet.ts …` / `iotfn simulate …`: runs a fleet from the command line; resolves to the exit code. */
export async function simulateCommand(argv: string[]): Promise<number> {
  let options: ReturnType<typeof parseFleetArgs>;
  try {
    options = parseFleetArgs(argv);
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(fleetUsage);
      return 0;
    }
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${fleetUsage}`);
    return 2;
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const { perDevice: _perDevice, ...summary } = await runFleet({ ...options, progress: options.quiet ? undefined : process.stderr, signal: stop.signal });
    process.stdout.write(JSON.stringify(summary) + '\n');
    if (summary.valuesStored === null) {
      process.stderr.write('stored: not checked (devices given with --devices, no user to ask the API as)\n');
    } else if (summary.devicesShort! > 0) {
      // Acknowledged by a broker or the edge is not stored: a run the platform did not keep is a failed run.
      process.stderr.write(`stored: ${summary.valuesStored} of ${summary.valuesAcked} acknowledged values; ${summary.devicesShort} of ${summary.devices} devices short\n`);
      return 1;
    }
    return summary.errors > 0 && summary.acked === 0 ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  simulateCommand(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`${error.name}: ${error.message}\n`);
      process.exit(1);
    },
  );
}
