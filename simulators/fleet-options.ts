/**
 * The simulator's command line, checked in one place: every flag with its default and its check, and one
 * `UsageError` with a plain message when something is wrong.
 *
 *   fleet.ts --url http://localhost:8080 --email ann@example.com --password '…' --count 20 --rate 1 --duration 60
 *            [--http] [--mqtt-url mqtt://host:1883] [--broker embedded|mosquitto] [--seed 42]
 *            [--messages 100] [--devices ids-and-tokens.json] [--save-devices file.json] [--telemetry-only]
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import type { DeviceCredentials } from './device-credentials.ts';
import { readDeviceCredentials } from './device-credentials.ts';
import { simulatedIntervalBounds } from './device-control.ts';
import type { FleetOptions } from './fleet.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Thrown for --help: not an error, but the same way out (the usage text). */
export class HelpRequested extends Error {
  override name = 'HelpRequested';
}

export const fleetUsage = `usage: iotfn simulate --url URL (--email E --password P | --devices FILE) [options]

  --url URL               the platform's API (required)
  --email, --password     log in as this user (registered first if unknown) to provision devices
  --count N               devices (default 10; with --devices, all of the file)
  --rate R                messages per second per device (default 1), until a device's configuration
                          sets \`interval\`
  --duration S            seconds to run (default 60, or unbounded when --messages is given)
  --messages N            messages per device, then stop
  --http                  send over HTTP (POST /telemetry) instead of MQTT
  --mqtt-url URL          the MQTT broker (default: the one the platform names at GET /info)
  --broker KIND           embedded (MQTT 3.1.1) or mosquitto (MQTT 5); both take the device id and token
                          as username and password; default: what GET /info says, mosquitto with --mqtt-url
  --seed N                makes the signals repeatable (default: random)
  --devices FILE          reuse devices: JSON [{"id", "token"}] (or a POST /devices/bulk answer)
  --save-devices FILE     write the provisioned devices' ids and tokens there, to reuse them later
  --telemetry-only        send telemetry only: no configuration, state or commands (over HTTP, no long polls)
  --quiet                 no progress line
  --help                  this text

Each device also follows its configuration and answers commands: over MQTT on its own connection
(devices/{id}/config, devices/{id}/commands), over HTTP by long polls (GET /device/config?wait=25,
GET /device/commands?wait=25).
  configuration  {"interval": S}: seconds between readings (${simulatedIntervalBounds.min} to ${simulatedIntervalBounds.max}), applied at once;
                 without it, --rate
  state          {"version": V, "state": {"interval": S}}, V the version applied: after connecting
                 and after each configuration
  commands       ping → succeeded {"pong": <ms since the epoch>}; any other → failed
                 {"error": "unknown command <name>"}
The summary counts configsApplied and commandsAnswered.
`;

const positive = (flag: string) => z.coerce.number({ error: `${flag} must be a number` }).positive(`${flag} must be more than 0`);
const count = (flag: string) => z.coerce.number({ error: `${flag} must be a number` }).int(`${flag} must be a whole number`).min(1, `${flag} must be at least 1`);

const Flags = z
  .object({
    url: z.url({ protocol: /^https?$/, error: '--url must be an http(s) URL' }),
    email: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    count: count('--count').max(100_000).optional(),
    rate: positive('--rate').max(1000).default(1),
    duration: positive('--duration').optional(),
    messages: count('--messages').optional(),
    http: z.boolean().default(false),
    'mqtt-url': z.url({ protocol: /^mqtts?$/, error: '--mqtt-url must be an mqtt(s) URL' }).optional(),
    broker: z.enum(['embedded', 'mosquitto'], { error: '--broker is embedded or mosquitto' }).optional(),
    seed: z.coerce.number({ error: '--seed must be a number' }).int('--seed must be a whole number').optional(),
    devices: z.string().min(1).optional(),
    'save-devices': z.string().min(1).optional(),
    'telemetry-only': z.boolean().default(false),
    quiet: z.boolean().default(false),
  })
  .refine((f) => f.devices || (f.email && f.password), { message: 'give --email and --password, or --devices' });

/** The simulator's flags, for its parser and for `iotfn completion`. */
export const fleetFlags = {
  url: { type: 'string' },
  email: { type: 'string' },
  password: { type: 'string' },
  count: { type: 'string' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  messages: { type: 'string' },
  http: { type: 'boolean' },
  'mqtt-url': { type: 'string' },
  broker: { type: 'string' },
  seed: { type: 'string' },
  devices: { type: 'string' },
  'save-devices': { type: 'string' },
  'telemetry-only': { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies NonNullable<ParseArgsConfig['options']>;

/** Parses the simulator's arguments into the options of `runFleet`; throws UsageError. */
export function parseFleetArgs(argv: string[]): FleetOptions & { quiet: boolean } {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: fleetFlags,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) throw new HelpRequested();
  const parsed = Flags.safeParse(values);
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join('; '));
  const flags = parsed.data;

  let devices: DeviceCredentials[] | undefined;
  if (flags.devices) {
    try {
      devices = readDeviceCredentials(readFileSync(flags.devices, 'utf8'), flags.devices);
    } catch (error) {
      throw new UsageError(`--devices: ${(error as Error).message}`);
    }
    if (flags.count && flags.count > devices.length) throw new UsageError(`--count ${flags.count}, but ${flags.devices} holds ${devices.length} devices`);
    devices = devices.slice(0, flags.count ?? devices.length);
  }
  return {
    url: flags.url.replace(/\/+$/, ''),
    credentials: flags.email && flags.password ? { email: flags.email, password: flags.password } : undefined,
    devices,
    count: devices?.length ?? flags.count ?? 10,
    ratePerDevice: flags.rate,
    durationMs: flags.duration !== undefined ? flags.duration * 1000 : flags.messages ? Number.POSITIVE_INFINITY : 60_000,
    messagesPerDevice: flags.messages,
    transport: flags.http ? 'http' : 'mqtt',
    // Without --mqtt-url the platform's GET /info names the broker (and which kind it is).
    broker: flags.broker,
    mqttUrl: flags['mqtt-url'],
    // A random seed is still reported in the summary, so any run can be repeated.
    seed: flags.seed ?? Math.floor(Math.random() * 2 ** 31),
    saveDevicesTo: flags['save-devices'],
    telemetryOnly: flags['telemetry-only'],
    quiet: flags.quiet,
  };
}
