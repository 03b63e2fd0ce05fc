/**
 * The agent's backlog on disk: points waiting for the platform's 202, oldest first, bounded.
 *
 * Files, next to each other:
 *   agent-buffer.jsonl        append-only JSON lines `{"seq","ts","values"}`; `seq` numbers points in order
 *   agent-buffer.jsonl.acked  `{"seq": n}`: every point up to n was acknowledged (or dropped by the bound)
 *
 * Removing points from the front moves the acknowledged `seq` forward (a small atomic write) instead of
 * rewriting the data file; lines at or below it are dead. The data file is truncated once everything is
 * acknowledged, and rewritten without its dead front when that front outgrows what is still live. Because
 * lines carry their own `seq`, a crash between any two of these steps loses nothing and repeats nothing:
 * on open, dead lines and a line cut short by the crash are skipped.
 *
 * When the backlog exceeds `maxPoints` or `maxBytes`, the oldest points are dropped and a warning names how
 * many. Writes are not fsync'ed: a power cut may lose the last interval's points, not the backlog's order.
 */
import { mkdir, open, readFile, rename, truncate, writeFile, appendFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AgentLog } from './agent-log.ts';

export type TelemetryValue = number | boolean | string;

export interface TelemetryPoint {
  ts: number;
  values: Record<string, TelemetryValue>;
}

export interface BufferedPoint extends TelemetryPoint {
  seq: number;
}

export interface PointBufferOptions {
  path: string;
  maxPoints: number;
  maxBytes?: number;
  log: AgentLog;
}

interface Entry {
  seq: number;
  bytes: number;
}

export const defaultMaxBytes = 64 * 1024 * 1024;
/** Below this the dead front of the file is not worth a rewrite. */
const compactAfterBytes = 1024 * 1024;

function parseLine(line: string): BufferedPoint | undefined {
  try {
    const p = JSON.parse(line) as Partial<BufferedPoint>;
    if (Number.isSafeInteger(p.seq) && typeof p.ts === 'number' && p.values && typeof p.values === 'object') return p as BufferedPoint;
  } catch {
    // a line cut short by a crash: not a point
  }
  return undefined;
}

export class PointBuffer {
  readonly path: string;
  readonly maxPoints: number;
  readonly maxBytes: number;
  private readonly ackPath: string;
  private readonly log: AgentLog;
  /** Live points, oldest at `head`: their seq and their line's size in the file. */
  private entries: Entry[] = [];
  private head = 0;
  /** Byte offset in the data file of the oldest live line. */
  private liveStart = 0;
  private liveBytes = 0;
  private fileBytes = 0;
  private nextSeq = 1;
  private droppedSinceStart = 0;
  /** Operations run one at a time: appends, reads and acknowledgements all move the same offsets. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(options: PointBufferOptions) {
    this.path = options.path;
    this.ackPath = `${options.path}.acked`;
    this.maxPoints = options.maxPoints;
    this.maxBytes = options.maxBytes ?? defaultMaxBytes;
    this.log = options.log;
  }

  /** Opens (or creates) the buffer, keeping whatever a previous run left unacknowledged. */
  static async open(options: PointBufferOptions): Promise<PointBuffer> {
    const buffer = new PointBuffer(options);
    await buffer.load();
    return buffer;
  }

  /** Points waiting. */
  get size(): number {
    return this.entries.length - this.head;
  }

  /** Bytes the waiting points take in the file. */
  get bytes(): number {
    return this.liveBytes;
  }

  get dropped(): number {
    return this.droppedSinceStart;
  }

  append(point: TelemetryPoint): Promise<void> {
    return this.exclusive(async () => {
      const seq = this.nextSeq;
      const line = JSON.stringify({ seq, ts: point.ts, values: point.values }) + '\n';
      const bytes = Buffer.byteLength(line);
      try {
        await appendFile(this.path, line);
      } catch (error) {
        // A partial line (disk full) would glue onto the next one and shift every offset after it.
        await truncate(this.path, this.fileBytes).catch(() => undefined);
        throw error;
      }
      this.nextSeq++;
      this.entries.push({ seq, bytes });
      this.liveBytes += bytes;
      this.fileBytes += bytes;
      await this.enforceBound();
    });
  }

  /** The `count` oldest waiting points, in order (fewer when fewer wait). */
  oldest(count: number): Promise<BufferedPoint[]> {
    return this.exclusive(async () => {
      const n = Math.min(count, this.size);
      if (n === 0) return [];
      let length = 0;
      for (let i = 0; i < n; i++) length += this.entries[this.head + i]!.bytes;
      const data = Buffer.alloc(length);
      const file = await open(this.path, 'r');
      try {
        await file.read(data, 0, length, this.liveStart);
      } finally {
        await file.close();
      }
      const points = data.toString('utf8').split('\n', n).map(parseLine);
      points.forEach((p, i) => {
        if (p?.seq !== this.entries[this.head + i]!.seq) throw new Error(`${this.path} changed under the agent (expected seq ${this.entries[this.head + i]!.seq})`);
      });
      return points as BufferedPoint[];
    });
  }

  /** Removes every waiting point up to and including `seq` (the platform has them). */
  acknowledge(seq: number): Promise<void> {
    return this.exclusive(async () => {
      let n = 0;
      while (n < this.size && this.entries[this.head + n]!.seq <= seq) n++;
      if (n > 0) await this.removeOldest(n);
    });
  }

  /** Waits for pending operations. */
  async close(): Promise<void> {
    await this.exclusive(async () => undefined);
  }

  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.queue.then(operation, operation);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async load(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const ackedSeq = await readFile(this.ackPath, 'utf8').then(
      (text) => Number((JSON.parse(text) as { seq?: unknown }).seq) || 0,
      () => 0,
    );
    const text = await readFile(this.path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    const live: string[] = [];
    let unreadable = 0;
    let dead = 0;
    let lastSeq = ackedSeq;
    for (const line of text.split('\n')) {
      if (!line) continue;
      const point = parseLine(line);
      if (!point || point.seq <= lastSeq) {
        if (point && point.seq <= ackedSeq) dead++;
        else unreadable++;
        continue;
      }
      lastSeq = point.seq;
      live.push(line);
    }
    if (unreadable > 0) this.log.warn('buffer: skipped unreadable lines (a write cut short by a crash?)', { path: this.path, lines: unreadable });
    const liveText = live.map((l) => `${l}\n`).join('');
    // Start from a clean file: no dead front, no torn tail for the next append to glue onto.
    if (unreadable > 0 || dead > 0 || !text.endsWith('\n')) await this.replaceFile(liveText);
    this.entries = live.map((line) => ({ seq: (JSON.parse(line) as BufferedPoint).seq, bytes: Buffer.byteLength(line) + 1 }));
    this.liveBytes = this.fileBytes = Buffer.byteLength(liveText);
    this.nextSeq = lastSeq + 1;
    if (this.size > 0) this.log.info('buffer: points from an earlier run are waiting to be sent', { path: this.path, points: this.size });
    await this.enforceBound();
  }

  private async enforceBound(): Promise<void> {
    let n = 0;
    let bytes = 0;
    while (n < this.size && (this.size - n > this.maxPoints || this.liveBytes - bytes > this.maxBytes)) {
      bytes += this.entries[this.head + n]!.bytes;
      n++;
    }
    if (n === 0) return;
    const first = this.entries[this.head]!.seq;
    const last = this.entries[this.head + n - 1]!.seq;
    await this.removeOldest(n);
    this.droppedSinceStart += n;
    this.log.warn(`buffer full: dropped the ${n} oldest point${n === 1 ? '' : 's'} to stay within ${this.maxPoints} points / ${this.maxBytes} bytes`, {
      path: this.path,
      dropped: n,
      seqs: [first, last],
      droppedSinceStart: this.droppedSinceStart,
      waiting: this.size,
    });
  }

  private async removeOldest(n: number): Promise<void> {
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += this.entries[this.head + i]!.bytes;
    const seq = this.entries[this.head + n - 1]!.seq;
    // The acknowledgement goes to disk first: from then on the lines it covers are dead wherever they are.
    await writeFile(`${this.ackPath}.tmp`, JSON.stringify({ seq }) + '\n');
    await rename(`${this.ackPath}.tmp`, this.ackPath);
    this.head += n;
    this.liveStart += bytes;
    this.liveBytes -= bytes;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    if (this.size === 0) {
      await truncate(this.path, 0);
      this.liveStart = this.fileBytes = 0;
    } else if (this.liveStart > compactAfterBytes && this.liveStart > this.liveBytes) {
      const tail = Buffer.alloc(this.fileBytes - this.liveStart);
      const file = await open(this.path, 'r');
      try {
        await file.read(tail, 0, tail.length, this.liveStart);
      } finally {
        await file.close();
      }
      await this.replaceFile(tail);
      this.liveStart = 0;
      this.fileBytes = tail.length;
    }
  }

  private async replaceFile(content: string | Buffer): Promise<void> {
    await writeFile(`${this.path}.tmp`, content);
    await rename(`${this.path}.tmp`, this.path);
  }
}
