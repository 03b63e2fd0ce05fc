/**
 * The agent's loop, free of timers and I/O choices so tests can drive it: each `tick` takes one reading
 * (the injected collector, stamped by the injected clock), appends it to the disk buffer, then sends the
 * backlog oldest first in batches, removing a batch only once the platform answered 202. The first failed
 * send stops the round; the next tick tries again. Nothing is lost up to the buffer's bound. A refused token
 * (401/403) stops the schedule: it would be refused forever, and the points stay on disk for a good token.
 *
 *   const agent = new ReportingAgent({ buffer, collect, send, log });
 *   agent.start(10_000);   // or: await agent.tick() from a test
 *   agent.reschedule(60_000);   // a new interval, e.g. from the device's configuration
 *   await agent.stop();
 */
import type { AgentLog } from './agent-log.ts';
import type { PointBuffer, TelemetryValue } from './point-buffer.ts';
import type { TelemetrySender } from './telemetry-uplink.ts';

export interface Clock {
  now(): number;
}

export interface ReportingAgentOptions {
  buffer: PointBuffer;
  collect: () => Promise<Record<string, TelemetryValue>>;
  send: TelemetrySender;
  log: AgentLog;
  clock?: Clock;
  /** Points per request while sending a backlog. */
  batchSize?: number;
  /** Called when the platform refuses the token; the schedule has stopped. Without it, an error line is logged. */
  onTokenRefused?: (reason: string) => void;
}

export class ReportingAgent {
  private readonly buffer: PointBuffer;
  private readonly collect: () => Promise<Record<string, TelemetryValue>>;
  private readonly send: TelemetrySender;
  private readonly log: AgentLog;
  private readonly clock: Clock;
  private readonly onTokenRefused: ((reason: string) => void) | undefined;
  private batchSize: number;
  /** Unknown until the first send; flips are logged once each way, not on every failed attempt. */
  private reachable: boolean | undefined;
  private failedAttempts = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** The schedule: slot n is due at origin + n × intervalMs (epoch ms); `slotAt` is when the last one was due. */
  private intervalMs = 0;
  private origin = 0;
  private n = 0;
  private slotAt = 0;

  constructor(options: ReportingAgentOptions) {
    this.buffer = options.buffer;
    this.collect = options.collect;
    this.send = options.send;
    this.log = options.log;
    this.clock = options.clock ?? { now: () => Date.now() };
    this.batchSize = options.batchSize ?? 500;
    this.onTokenRefused = options.onTokenRefused;
  }

  /** Takes one reading, buffers it, and sends what is waiting. Never throws: an agent keeps going. */
  tick(): Promise<void> {
    return this.exclusive(async () => {
      const ts = this.clock.now();
      try {
        const values = await this.collect();
        if (Object.keys(values).length > 0) await this.buffer.append({ ts, values });
      } catch (error) {
        this.log.error('could not take or buffer a reading', { error: (error as Error).message });
      }
      await this.sendBacklog();
    });
  }

  /** Sends what is waiting without taking a reading. Resolves to the number of points the platform took. */
  flush(): Promise<number> {
    return this.exclusive(() => this.sendBacklog());
  }

  /** Ticks now and then every `intervalMs`, on a fixed schedule (a slow send does not shift later readings). */
  start(intervalMs: number): void {
    if (this.running) return;
    this.running = true;
    this.intervalMs = intervalMs;
    this.origin = Date.now();
    this.n = 0;
    this.loop();
  }

  /** Takes a new interval: the next reading comes one new interval after the last one (at once if that has passed). */
  reschedule(intervalMs: number): void {
    if (!this.running || intervalMs === this.intervalMs) return;
    this.intervalMs = intervalMs;
    this.origin = this.slotAt;
    this.n = 0;
    // While a tick runs, its end schedules the next one on the new pace.
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.scheduleNext();
  }

  private readonly loop = () => {
    this.timer = undefined;
    this.slotAt = this.origin + this.n * this.intervalMs;
    void this.tick().finally(() => {
      if (this.running) this.scheduleNext();
    });
  };

  private scheduleNext(): void {
    // Skip the slots a long send overran rather than firing them all at once.
    this.n = Math.max(this.n + 1, Math.ceil((Date.now() - this.origin) / this.intervalMs));
    this.timer = setTimeout(this.loop, this.origin + this.n * this.intervalMs - Date.now());
  }

  /** Stops the schedule and waits for the tick in progress. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.exclusive(async () => undefined);
    await this.buffer.close();
  }

  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.queue.then(operation, operation);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async sendBacklog(): Promise<number> {
    let sent = 0;
    while (this.buffer.size > 0) {
      const batch = await this.buffer.oldest(this.batchSize);
      const last = batch[batch.length - 1]!.seq;
      let outcome;
      try {
        outcome = await this.send(batch.map(({ ts, values }) => ({ ts, values })));
      } catch (error) {
        outcome = { kind: 'retry' as const, reason: (error as Error).message };
      }
      if (outcome.kind === 'accepted') {
        if (this.reachable === false) {
          this.log.info('platform reachable again; sending the backlog', { waiting: this.buffer.size, failedAttempts: this.failedAttempts });
        }
        this.reachable = true;
        this.failedAttempts = 0;
        await this.buffer.acknowledge(last);
        sent += batch.length;
        continue;
      }
      if (outcome.kind === 'too-large' && this.batchSize > 1) {
        this.batchSize = Math.max(1, Math.floor(this.batchSize / 2));
        this.log.warn('the platform refused a batch as too large; sending smaller batches', { batchSize: this.batchSize, reason: outcome.reason });
        continue;
      }
      if (outcome.kind === 'token-refused') {
        // Every later send would be refused the same way: stop, keeping the points for an agent with a good token.
        this.running = false;
        clearTimeout(this.timer);
        this.timer = undefined;
        if (this.onTokenRefused) this.onTokenRefused(outcome.reason);
        else this.log.error('the platform refuses this device token; reporting stops', { reason: outcome.reason, waiting: this.buffer.size });
        break;
      }
      if (outcome.kind === 'rejected' || outcome.kind === 'too-large') {
        // Sending these again would fail the same way and hold back every point behind them.
        this.log.error('the platform refused points as invalid; dropping them', { points: batch.length, seqs: [batch[0]!.seq, last], reason: outcome.reason });
        await this.buffer.acknowledge(last);
        continue;
      }
      this.failedAttempts++;
      if (this.reachable !== false) this.log.warn('platform unreachable; buffering on disk', { reason: outcome.reason, waiting: this.buffer.size, path: this.buffer.path });
      this.reachable = false;
      break;
    }
    if (sent > 1 && this.buffer.size === 0) this.log.info('backlog sent', { points: sent });
    return sent;
  }
}
