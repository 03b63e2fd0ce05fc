/**
 * The server processes a bench starts: spawned with a free loopback port, waited for over HTTP, and always
 * stopped again (SIGTERM, then SIGKILL after a grace), so a failed run leaves nothing listening.
 *
 *   const gateway = spawnChild('gateway', process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', 'dev'], { PORT });
 *   await waitForHttp(`http://127.0.0.1:${port}/healthz`, { child: gateway });
 *   ...
 *   await stopAll();
 *
 * A child's output goes to stderr with its name in front, capped, because a server failing under load can
 * log one line per request and drown the bench's own progress. What is cut is still summed up when the child
 * exits: how often each log message came (ids and numbers folded), so a retry loop is seen without its flood.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { progress } from './report.ts';

export interface Child {
  name: string;
  process: ChildProcess;
  /** Settles when the process has exited, with its code or signal. */
  exited: Promise<string>;
  /** Log lines at level error or fatal, counted even once forwarding stops. */
  errorLines: number;
  /** Log lines at level warn: retries and refusals the platform survives, but which cost time. */
  warnLines: number;
}

const FORWARDED_LINES = 40;
/** Distinct messages tallied among the lines not shown, and how many of them the summary names. */
const TALLIED_MESSAGES = 200;
const SUMMARISED_MESSAGES = 6;
/** Children name their files relative to the repository (bin/iotfn.ts, node_modules/.bin/...), wherever the bench was started. */
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const running = new Set<Child>();

/** A port nobody listens on right now; the short gap before the child binds it is acceptable on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

export function spawnChild(name: string, command: string, args: string[], env: Record<string, string>): Child {
  const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? `code ${code}`));
    child.once('error', (error) => resolve(`spawn failed: ${error.message}`));
  });
  const entry: Child = { name, process: child, exited, errorLines: 0, warnLines: 0 };
  running.add(entry);
  void exited.then(() => running.delete(entry));

  let forwarded = 0;
  let suppressed = 0;
  const tally = new Map<string, number>();
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      if (/"level":"(?:error|fatal)"/.test(line)) entry.errorLines += 1;
      else if (/"level":"warn"/.test(line)) entry.warnLines += 1;
      if (forwarded < FORWARDED_LINES) {
        forwarded += 1;
        process.stderr.write(`  [${name}] ${line}\n`);
        return;
      }
      suppressed += 1;
      const key = messageOf(line);
      if (tally.has(key) || tally.size < TALLIED_MESSAGES) tally.set(key, (tally.get(key) ?? 0) + 1);
    });
  }
  // 'close' comes after the last output line; 'exit' can come before it.
  child.once('close', () => {
    if (suppressed === 0) return;
    const top = [...tally].sort((a, b) => b[1] - a[1]).slice(0, SUMMARISED_MESSAGES);
    process.stderr.write(`  [${name}] ${suppressed} more output lines not shown, most often:\n`);
    for (const [message, count] of top) process.stderr.write(`  [${name}]   ${count} × ${message}\n`);
  });
  return entry;
}

/**
 * Marks the children's log counts now; the function it returns gives what they logged since, as figure
 * fields (`serverErrorLogs`, `serverWarnLogs`), leaving out the zeros.
 */
export function logsSince(...children: Child[]): () => Record<string, number> {
  const count = (level: 'errorLines' | 'warnLines') => children.reduce((sum, child) => sum + child[level], 0);
  const errors = count('errorLines');
  const warnings = count('warnLines');
  return () => {
    const fields: Record<string, number> = {};
    if (count('errorLines') > errors) fields.serverErrorLogs = count('errorLines') - errors;
    if (count('warnLines') > warnings) fields.serverWarnLogs = count('warnLines') - warnings;
    return fields;
  };
}

/** A log line's level and message with ids and numbers folded, so repeats of one event count as one. */
function messageOf(line: string): string {
  const level = /"level":"(\w+)"/.exec(line)?.[1];
  const msg = /"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1];
  // pino puts the error first: its message says why ("timeout exceeded when trying to connect").
  const cause = /"err":\{"type":"\w+","message":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1];
  const text = level && msg ? `${level}: ${msg}${cause ? ` (${cause.slice(0, 120)})` : ''}` : line.slice(0, 160);
  return text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>').replace(/\d+/g, '#');
}

export interface WaitOptions {
  /** Fail at once if this process exits before the URL answers. */
  child?: Child;
  intervalMs?: number;
  timeoutMs?: number;
  headers?: Record<string, string>;
}

/** Polls until the URL answers 2xx; resolves with the milliseconds it took. */
export async function waitForHttp(url: string, options: WaitOptions = {}): Promise<number> {
  const { child, intervalMs = 100, timeoutMs = 60_000, headers = {} } = options;
  const started = performance.now();
  let exitedAs: string | undefined;
  void child?.exited.then((how) => (exitedAs = how));
  let last = 'no answer yet';
  while (performance.now() - started < timeoutMs) {
    if (exitedAs !== undefined) throw new Error(`${child?.name} exited (${exitedAs}) before ${url} answered`);
    try {
      const remaining = timeoutMs - (performance.now() - started);
      const response = await fetch(url, { headers, signal: AbortSignal.timeout(Math.max(1, Math.ceil(Math.min(2_000, remaining)))) });
      await response.arrayBuffer();
      if (response.ok) return performance.now() - started;
      last = `status ${response.status}`;
    } catch (error) {
      // fetch reports every network failure as "fetch failed"; the cause says which (ECONNREFUSED, a timeout).
      const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
      last = cause?.code ?? cause?.message ?? (error as Error).message;
    }
    await sleep(intervalMs);
  }
  throw new Error(`${url} did not answer 2xx within ${timeoutMs} ms (last: ${last})`);
}

/** Spawns a server and waits for its `/healthz` on the given port; a child that dies first fails this at once. */
export async function startServer(name: string, command: string, args: string[], env: Record<string, string>, port: number): Promise<Child> {
  const child = spawnChild(name, command, args, env);
  try {
    const ms = await waitForHttp(`http://127.0.0.1:${port}/healthz`, { child, timeoutMs: 60_000 });
    progress(`${name} ready on port ${port} after ${Math.round(ms)} ms`);
    return child;
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

export async function stopChild(child: Child, graceMs = 3_000): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  const exitedInTime = await Promise.race([child.exited.then(() => true), sleep(graceMs, false)]);
  if (exitedInTime) return;
  child.process.kill('SIGKILL');
  await Promise.race([child.exited, sleep(graceMs)]);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => stopChild(child)));
}

/** The last resort when the bench dies without reaching its finally (process.exit from elsewhere). */
process.once('exit', () => {
  for (const child of running) child.process.kill('SIGKILL');
});

/** CPU seconds a process has used so far (user + system), from /proc: Linux only, as the bench is. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name; in clock ticks (100 Hz).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Waits until `child` has used less than `busyShare` of a core over each of `windowMs`, or `timeoutMs` passed:
 * work it took on before (events to digest) no longer competes with what is measured next. Resolves with the
 * milliseconds waited, and whether it went quiet.
 */
export async function waitForQuiet(child: Child, options: { busyShare?: number; windowMs?: number; timeoutMs?: number } = {}): Promise<{ waitedMs: number; quiet: boolean }> {
  const { busyShare = 0.05, windowMs = 1_000, timeoutMs = 120_000 } = options;
  const pid = child.process.pid;
  const started = performance.now();
  if (pid === undefined) return { waitedMs: 0, quiet: false };
  for (;;) {
    const before = cpuSeconds(pid);
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const share = (cpuSeconds(pid) - before) / (windowMs / 1000);
    const waitedMs = Math.round(performance.now() - started);
    if (share < busyShare) return { waitedMs, quiet: true };
    if (waitedMs > timeoutMs) return { waitedMs, quiet: false };
  }
}
