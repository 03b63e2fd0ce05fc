/**
 * The stock Mosquitto command-line clients (`mosquitto_pub`, `mosquitto_sub`), as a device's owner would run
 * them: clients no one here wrote, for the device protocol tests. Every run is bounded in time.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { until } from './wait.ts';

export type MqttVersion = 'mqttv311' | 'mqttv5';

export interface Login {
  port: number;
  version: MqttVersion;
  username?: string;
  password?: string;
  clientId?: string;
}

function loginArgs(login: Login): string[] {
  return [
    '-h', '127.0.0.1', '-p', String(login.port), '-V', login.version,
    ...(login.username !== undefined ? ['-u', login.username] : []),
    ...(login.password !== undefined ? ['-P', login.password] : []),
    ...(login.clientId ? ['-i', login.clientId] : []),
  ];
}

export interface Run {
  code: number | null;
  /** stdout and stderr together: `-d` debug lines, messages, errors. */
  output: string;
}

/** `mosquitto_pub -d … -q 1`: the output shows CONNACK, PUBACK and its reason code (MQTT 5). */
export function mosquittoPub(login: Login, topic: string, message: string | { file: string }, extra: string[] = []): Promise<Run> {
  const body = typeof message === 'string' ? ['-m', message] : ['-f', message.file];
  return new Promise((resolve) => {
    execFile('mosquitto_pub', [...loginArgs(login), '-d', '-q', '1', '-t', topic, ...body, ...extra], { timeout: 10_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: stdout + stderr });
    });
  });
}

/** The PUBACK reason code mosquitto_pub reports (`received PUBACK (Mid: 1, RC:135)`), if any. */
export function pubackReason(run: Run): number | undefined {
  const match = /received PUBACK \(Mid: \d+, RC:(\d+)\)/.exec(run.output);
  return match ? Number(match[1]) : undefined;
}

export interface Subscriber {
  child: ChildProcess;
  /** Messages received so far, as `topic payload` lines (`-v`). */
  lines(): string[];
  output(): string;
  /** Resolves with the first line that matches, or throws after `timeoutMs`. */
  waitFor(match: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves once the subscription is acknowledged (granted or not), with the SUBACK text. */
  subscribed: Promise<string>;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** A long-running `mosquitto_sub -v -d -q 1` on one or more topics. */
export function mosquittoSub(login: Login, topics: string[], extra: string[] = []): Subscriber {
  const child = spawn('mosquitto_sub', [...loginArgs(login), '-v', '-d', '-q', '1', ...topics.flatMap((t) => ['-t', t]), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const messages: string[] = [];
  let resolveSubscribed: (text: string) => void = () => undefined;
  const subscribed = new Promise<string>((resolve) => (resolveSubscribed = resolve));
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const line of chunk.toString().split('\n')) {
      if (/^devices\//.test(line)) messages.push(line);
    }
    if (/Subscribed \(mid|All subscription requests were denied/.test(output)) resolveSubscribed(output);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  exited.then(() => resolveSubscribed(output), () => undefined);
  // Bounded like every wait here: a SUBACK that never comes reads as the output so far.
  setTimeout(() => resolveSubscribed(`no SUBACK within 10 s: ${output}`), 10_000).unref();
  return {
    child,
    lines: () => [...messages],
    output: () => output,
    waitFor: (match, timeoutMs = 10_000) => until(`a message matching ${match} (got: ${output.slice(-400)})`, () => messages.find((line) => match.test(line)), timeoutMs),
    subscribed,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}
