/**
 * The end-device agent: reports this machine's CPU load, memory, disk use and network counters to the
 * platform every interval over HTTP, buffering on disk while the platform is unreachable. The interval comes
 * from the device's configuration, and the agent answers `ping` (remote-control.ts).
 *
 *   node --import tsx end-devices/agent.ts --url http://localhost:8080 --token dt_… --interval 10 \
 *        --buffer ./agent-buffer.jsonl --max-buffer 100000
 *
 * The token may come from IOTFN_DEVICE_TOKEN instead of --token, which keeps it out of `ps`. Logs are JSON
 * lines on stderr; SIGINT/SIGTERM stop after the send in progress. A token the platform refuses (401/403)
 * stops the agent with exit code 3: it would be refused forever, and a supervisor can tell it from a crash.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { jsonLinesLog, type AgentLog } from './agent-log.ts';
import { deviceApi } from './device-api.ts';
import { defaultMaxBytes, PointBuffer } from './point-buffer.ts';
import { intervalBounds, RemoteControl } from './remote-control.ts';
import { ReportingAgent } from './reporting-agent.ts';
import { systemCollector } from './system-metrics.ts';
import { httpTelemetrySender } from './telemetry-uplink.ts';
import { NotAPlatform, platformCheck } from './platform-check.ts';

export const agentUsage = `usage: iotfn agent --url URL --token TOKEN [options]

  --url URL               the platform's API (required)
  --token TOKEN           this device's token (or IOTFN_DEVICE_TOKEN)
  --interval S            seconds between readings until the device's configuration sets \`interval\`
                          (${intervalBounds.min} to ${intervalBounds.max} s), and when it has none (default 10)
  --buffer FILE           the disk buffer (default ./agent-buffer.jsonl)
  --max-buffer N          most points kept while the platform is unreachable (default 100000)
  --max-buffer-bytes N    most bytes they may take (default ${defaultMaxBytes})
  --disk PATH             the file system whose use is reported (default /)
  --batch N               points per request when sending a backlog (default 500)
  --timeout S             seconds to wait for the platform's answer (default 10)
  --help                  this text

The agent follows its device's configuration (\`PUT /devices/{id}/config {"config": {"interval": 30}}\`),
reports \`{version, state: {interval}}\`, and answers the \`ping\` command with \`{pong, hostname}\`.
Before sending its token anywhere, the agent asks the platform's public GET /info (where it takes telemetry);
something else answering at --url stops it, an outage only delays the sends.
Exit codes: 0 stopped by SIGINT/SIGTERM, 2 bad arguments (or --url is not an iotfn platform),
3 the platform refuses the token (401/403).
`;

export const tokenRefusedExitCode = 3;
/** Bad arguments, and a --url that answers GET /info as something other than the platform. */
export const badArgumentsExitCode = 2;

const number = (flag: string) => z.coerce.number({ error: `${flag} must be a number` }).positive(`${flag} must be more than 0`);
const whole = (flag: string) => number(flag).int(`${flag} must be a whole number`);

const Flags = z.object({
  url: z.url({ protocol: /^https?$/, error: '--url must be an http(s) URL' }),
  token: z.string({ error: '--token (or IOTFN_DEVICE_TOKEN) is required' }).min(1, '--token is empty'),
  interval: number('--interval').default(10),
  buffer: z.string().min(1).default('./agent-buffer.jsonl'),
  'max-buffer': whole('--max-buffer').default(100_000),
  'max-buffer-bytes': whole('--max-buffer-bytes').default(defaultMaxBytes),
  disk: z.string().min(1).default('/'),
  batch: whole('--batch').max(5000).default(500),
  timeout: number('--timeout').default(10),
});

export type AgentFlags = z.output<typeof Flags>;

/** The agent's flags, for its parser and for `iotfn completion`. */
export const agentFlags = {
  url: { type: 'string' },
  token: { type: 'string' },
  interval: { type: 'string' },
  buffer: { type: 'string' },
  'max-buffer': { type: 'string' },
  'max-buffer-bytes': { type: 'string' },
  disk: { type: 'string' },
  batch: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies NonNullable<ParseArgsConfig['options']>;

/** Parses the agent's arguments; throws an Error whose message is meant for the user. Undefined for --help. */
export function parseAgentArgs(argv: string[], env: Record<string, string | undefined> = process.env): AgentFlags | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: agentFlags,
  });
  if (values.help) return undefined;
  const parsed = Flags.safeParse({ ...values, token: values.token ?? env.IOTFN_DEVICE_TOKEN });
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => i.message).join('; '));
  return parsed.data;
}

export interface RunningAgent {
  /** Resolves with the reason once the platform refused the token; the agent has stopped working by then. */
  readonly tokenRefused: Promise<string>;
  /** Resolves with the reason once --url answered GET /info as something else; the agent has stopped by then. */
  readonly notAPlatform: Promise<string>;
  readonly remote: RemoteControl;
  stop(): Promise<void>;
}

/** Builds a running agent from parsed flags. */
export async function startAgent(flags: AgentFlags, log: AgentLog = jsonLinesLog()): Promise<RunningAgent> {
  let refuse!: (reason: string) => void;
  const tokenRefused = new Promise<string>((resolve) => (refuse = resolve));
  let wrongUrl!: (reason: string) => void;
  const notAPlatform = new Promise<string>((resolve) => (wrongUrl = resolve));
  let stopped = false;
  const timeoutMs = flags.timeout * 1000;
  const platform = platformCheck(flags.url, timeoutMs, (reason) => stopFor(reason, wrongUrl, 'not an iotfn platform at --url; stopping without sending the device token'));
  const buffer = await PointBuffer.open({ path: flags.buffer, maxPoints: flags['max-buffer'], maxBytes: flags['max-buffer-bytes'], log });
  const reporting = new ReportingAgent({
    buffer,
    collect: await systemCollector({ diskPath: flags.disk, log }),
    send: httpTelemetrySender(flags.url, flags.token, timeoutMs, platform),
    log,
    batchSize: flags.batch,
    onTokenRefused: (reason) => onRefused(reason),
  });
  const remote = new RemoteControl({
    api: deviceApi(flags.url, flags.token, timeoutMs, platform.confirm),
    log,
    fallbackInterval: flags.interval,
    onInterval: (seconds) => reporting.reschedule(seconds * 1000),
    onTokenRefused: (error) => onRefused(error.message),
  });
  function onRefused(reason: string) {
    stopFor(reason, refuse, 'the platform refuses this device token (unknown, rotated, or the device is disabled): check --token or IOTFN_DEVICE_TOKEN; stopping');
  }
  function stopFor(reason: string, settle: (reason: string) => void, message: string) {
    if (stopped) return;
    stopped = true;
    log.error(message, { reason, waiting: buffer.size });
    void Promise.all([reporting.stop(), remote.stop()]).finally(() => settle(reason));
  }
  // GET /info first, before anything carries the token. An outage here is not fatal: the agent buffers, and every
  // send asks again until the platform answers.
  await platform.confirm().then(
    (info) => log.info('platform found', { url: flags.url, version: info.version, telemetry: info.telemetry.http }),
    (error: unknown) => {
      if (!(error instanceof NotAPlatform)) log.warn('platform unreachable at start; buffering until it answers GET /info', { reason: (error as Error).message });
    },
  );
  if (!stopped) await remote.start();
  if (!stopped) {
    reporting.start(remote.interval * 1000);
    log.info('agent started', { url: flags.url, intervalSeconds: remote.interval, buffer: flags.buffer, maxBuffer: flags['max-buffer'] });
  }
  return {
    tokenRefused,
    notAPlatform,
    remote,
    async stop() {
      await Promise.all([reporting.stop(), remote.stop()]);
    },
  };
}

/** `agent.ts …` / `iotfn agent …`: runs until SIGINT or SIGTERM, or until the platform refuses the token; resolves to the exit code. */
export async function agentCommand(argv: string[]): Promise<number> {
  let flags: AgentFlags | undefined;
  try {
    flags = parseAgentArgs(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${agentUsage}`);
    return badArgumentsExitCode;
  }
  if (!flags) {
    process.stdout.write(agentUsage);
    return 0;
  }
  const log = jsonLinesLog();
  // Listening from the start: reading the configuration before the first reading may take a while.
  const signalled = new Promise<'signal'>((resolve) => {
    process.once('SIGINT', () => resolve('signal'));
    process.once('SIGTERM', () => resolve('signal'));
  });
  const agent = await startAgent(flags, log);
  const why = await Promise.race([signalled, agent.tokenRefused.then(() => 'token refused' as const), agent.notAPlatform.then(() => 'not a platform' as const)]);
  await agent.stop();
  log.info('agent stopped', { why });
  return why === 'signal' ? 0 : why === 'token refused' ? tokenRefusedExitCode : badArgumentsExitCode;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  agentCommand(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`${error.name}: ${error.message}\n`);
      process.exit(1);
    },
  );
}
