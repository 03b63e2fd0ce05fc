/**
 * Cold start as a scale-from-zero request meets it: from spawning the process to the first 2xx answer of a
 * real route, polled every few milliseconds, and the process's resident memory right after that answer.
 *
 *   const run = await coldStart('jwks', () => spawnChild(...), `${url}/auth/jwks.json`);
 *   // { ms: 212, rssMb: 58.1 }
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { stopChild, waitForHttp, type Child } from './children.ts';

export interface ColdStart {
  ms: number;
  rssMb: number;
}

export async function coldStart(spawnIt: () => Child, url: string, headers: Record<string, string> = {}): Promise<ColdStart> {
  const started = performance.now();
  const child = spawnIt();
  try {
    await waitForHttp(url, { child, intervalMs: 5, timeoutMs: 60_000, headers });
    const ms = performance.now() - started;
    return { ms: Math.round(ms), rssMb: await residentMb(child) };
  } finally {
    await stopChild(child);
  }
}

/** VmRSS of the child (the entrypoint execs node, so the spawned pid is node's own). */
async function residentMb(child: Child): Promise<number> {
  const status = await readFile(`/proc/${child.process.pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
