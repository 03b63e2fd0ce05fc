/**
 * Child processes for tests: start one, wait (bounded) until it answers, and always stop it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface Started {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `command` in the repository with `env` over this process's environment. METRICS_PORT defaults to 0
 * (any free port): tests start several platform processes at once, and each serves its internal endpoints.
 */
export function startProcess(command: string, args: string[], env: Record<string, string>): Started {
  const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, METRICS_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  return {
    child,
    output: () => text,
    stop: () => stopChildProcess(child),
  };
}

/** SIGTERM, then SIGKILL after 3 s; resolves once the process has exited (at once if it already has). */
export async function stopChildProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** Polls `url` until it answers 200, the process exits, or `timeoutMs` passes. */
export async function waitForHttp(url: string, started: Started, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (started.child.exitCode !== null) throw new Error(`process exited with ${started.child.exitCode}: ${started.output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms: ${started.output()}`);
}

/** Resolves with the exit code, or rejects after `timeoutMs`. */
export function exitCode(started: Started, timeoutMs = 60_000): Promise<number | null> {
  if (started.child.exitCode !== null) return Promise.resolve(started.child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms: ${started.output()}`)), timeoutMs);
    started.child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

export function freshSigningKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}
