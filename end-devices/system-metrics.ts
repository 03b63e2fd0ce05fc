/**
 * What the agent measures on its own machine, as telemetry values:
 *
 *   cpu_percent       busy share of all CPUs since the previous reading (/proc/stat, else os.cpus())
 *   load_1m           the one-minute load average
 *   memory_*          used = total − available (/proc/meminfo's MemAvailable, else os.freemem())
 *   disk_*            of the file system holding `diskPath`, as df counts it (fs.statfs)
 *   net_rx/tx_bytes   bytes received and sent by all interfaces but loopback since boot (/proc/net/dev)
 *
 * A source that fails (no /proc on macOS, a disk path that went away) leaves its keys out rather than
 * failing the reading, and is logged once.
 */
import { readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import type { AgentLog } from './agent-log.ts';

export type SystemMetrics = Record<string, number>;

interface CpuTimes {
  idle: number;
  total: number;
}

const round2 = (value: number) => Math.round(value * 100) / 100;
const percent = (part: number, whole: number) => (whole > 0 ? round2((100 * part) / whole) : 0);

async function cpuTimes(procRoot: string): Promise<CpuTimes> {
  try {
    // First line: cpu user nice system idle iowait irq softirq steal …; waiting on I/O counts as idle.
    const first = (await readFile(`${procRoot}/stat`, 'utf8')).split('\n', 1)[0] ?? '';
    const fields = first.trim().split(/\s+/).slice(1, 9).map(Number);
    if (fields.length < 5 || fields.some((n) => !Number.isFinite(n))) throw new Error('unexpected /proc/stat');
    return { idle: fields[3]! + fields[4]!, total: fields.reduce((a, b) => a + b, 0) };
  } catch {
    const cpus = os.cpus();
    return cpus.reduce(
      (sum, cpu) => ({ idle: sum.idle + cpu.times.idle, total: sum.total + Object.values(cpu.times).reduce((a, b) => a + b, 0) }),
      { idle: 0, total: 0 },
    );
  }
}

async function memory(procRoot: string): Promise<{ used: number; total: number }> {
  try {
    const text = await readFile(`${procRoot}/meminfo`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
    const total = kb('MemTotal');
    const available = kb('MemAvailable');
    if (Number.isFinite(total) && Number.isFinite(available)) return { used: total - available, total };
  } catch {
    // no /proc: the portable figures below
  }
  return { used: os.totalmem() - os.freemem(), total: os.totalmem() };
}

async function disk(path: string): Promise<{ used: number; total: number; percent: number }> {
  const s = await statfs(path);
  const used = (s.blocks - s.bfree) * s.bsize;
  // df's Use%: blocks reserved for root count as neither used nor available to the user.
  return { used, total: s.blocks * s.bsize, percent: percent(used, used + s.bavail * s.bsize) };
}

async function network(procRoot: string): Promise<{ rx: number; tx: number }> {
  const lines = (await readFile(`${procRoot}/net/dev`, 'utf8')).split('\n').slice(2);
  let rx = 0;
  let tx = 0;
  for (const line of lines) {
    const [name, counters] = line.split(':');
    if (!counters || name!.trim() === 'lo') continue;
    const fields = counters.trim().split(/\s+/).map(Number);
    // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit, bytes first.
    rx += fields[0] ?? 0;
    tx += fields[8] ?? 0;
  }
  return { rx, tx };
}

export interface SystemCollectorOptions {
  diskPath?: string;
  /** Where /proc is (tests, containers with the host's /proc mounted elsewhere). */
  procRoot?: string;
  log?: AgentLog;
}

/** Returns a function that takes one reading; CPU load is measured between consecutive calls. */
export async function systemCollector(options: SystemCollectorOptions = {}): Promise<() => Promise<SystemMetrics>> {
  const { diskPath = '/', procRoot = '/proc', log } = options;
  let previousCpu = await cpuTimes(procRoot);
  const failed = new Set<string>();
  const attempt = async <T>(source: string, read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (error) {
      if (!failed.has(source)) log?.warn(`cannot read ${source}; leaving it out`, { error: (error as Error).message });
      failed.add(source);
      return undefined;
    }
  };

  return async () => {
    const [cpu, mem, fsUse, net] = await Promise.all([
      attempt('cpu', () => cpuTimes(procRoot)),
      attempt('memory', () => memory(procRoot)),
      attempt(`disk ${diskPath}`, () => disk(diskPath)),
      attempt('network counters', () => network(procRoot)),
    ]);
    const metrics: SystemMetrics = { load_1m: round2(os.loadavg()[0] ?? 0) };
    if (cpu) {
      const total = cpu.total - previousCpu.total;
      const idle = cpu.idle - previousCpu.idle;
      metrics.cpu_percent = total > 0 ? Math.min(100, Math.max(0, percent(total - idle, total))) : 0;
      previousCpu = cpu;
    }
    if (mem) Object.assign(metrics, { memory_used_bytes: mem.used, memory_total_bytes: mem.total, memory_percent: percent(mem.used, mem.total) });
    if (fsUse) Object.assign(metrics, { disk_used_bytes: fsUse.used, disk_total_bytes: fsUse.total, disk_percent: fsUse.percent });
    if (net) Object.assign(metrics, { net_rx_bytes: net.rx, net_tx_bytes: net.tx });
    return metrics;
  };
}
