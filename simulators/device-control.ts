/**
 * A simulated device under its configuration and commands, whatever the transport (README, "Configuration,
 * state and commands"):
 *
 * - `interval` in the desired configuration is the seconds between readings, 0.001 to 3600; without one, the
 *   fleet's `--rate` holds. A new interval takes effect at once, even while the device waits for its next slot.
 *   An interval out of bounds is not applied: the state then carries the version still in effect and an
 *   `error`, so the owner sees the device out of sync, and why.
 * - The state `{version, state: {interval}}` goes out after connecting and after each configuration (the
 *   platform sends pending commands when a device reports its state).
 * - `ping` is answered `{pong: <ms since the epoch>}`; any other command fails with
 *   `{error: "unknown command <name>"}`. Commands come at least once; each id is acted on once.
 *
 *   const control = new DeviceControl(uplink, 1000, stats);
 *   await control.start();                  // listens, then reports its state
 *   await control.sleepUntil(at, signal);   // the fleet's wait for a slot; cut short when the pace changes
 */
import { CommandLedger, unknownCommand } from '../end-devices/command-ledger.ts';
import type { FleetStats } from './fleet-stats.ts';
import { asUplinkError, type DesiredConfig, type DeviceCommand, type DeviceUplink, type Downlink, type UplinkError } from './uplink.ts';

/** The same range as --rate's: at most 1000 readings a second. */
export const simulatedIntervalBounds = { min: 0.001, max: 3600 } as const;

export class DeviceControl implements Downlink {
  /** Milliseconds between readings now. */
  periodMs: number;
  /** The configuration version in effect: 0 is none (the fleet's rate). */
  private version = 0;
  /** Why the latest configuration was not applied. */
  private configError: string | undefined;
  private closed = false;
  /** Ends the sleep in progress, if any. */
  private wake: (() => void) | undefined;
  /** Configurations and state reports one at a time, in order. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly commands = new CommandLedger((command) => (command.name === 'ping' ? { status: 'succeeded', result: { pong: Date.now() } } : unknownCommand(command)));

  constructor(
    private readonly uplink: DeviceUplink,
    private readonly defaultPeriodMs: number,
    private readonly stats: FleetStats,
    /** Where failures go (counted by kind, the first of each noted). */
    private readonly onError: (error: UplinkError) => void = (error) => stats.fail(error.kind),
  ) {
    this.periodMs = defaultPeriodMs;
  }

  /** Starts taking configuration and commands, then reports the state. Failures are counted, then thrown. */
  async start(): Promise<void> {
    try {
      await this.uplink.listen(this);
    } catch (error) {
      this.onError(asUplinkError(error, 'listen'));
      throw error;
    }
    await this.inOrder(() => this.report());
  }

  /** Takes nothing more; ends the sleep in progress. */
  close(): void {
    this.closed = true;
    this.wake?.();
  }

  config(desired: DesiredConfig | null): Promise<void> {
    return this.inOrder(async () => {
      if (this.closed) return;
      this.apply(desired ?? { version: 0, config: {} });
      await this.report();
    });
  }

  async command(command: DeviceCommand): Promise<void> {
    if (this.closed) return;
    try {
      if (await this.commands.take(command, (result) => this.uplink.answer(command.id, result))) this.stats.commandsAnswered++;
    } catch (error) {
      this.onError(asUplinkError(error, 'answer'));
      throw error;
    }
  }

  error(error: UplinkError): void {
    if (!this.closed) this.onError(error);
  }

  /** Resolves at `at` (epoch ms), or sooner when the pace changes, the control closes or `signal` aborts. */
  sleepUntil(at: number, signal?: AbortSignal): Promise<void> {
    const ms = at - Date.now();
    if (ms <= 0 || signal?.aborted || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }

  private apply(desired: DesiredConfig): void {
    const configured = desired.config.interval;
    const { min, max } = simulatedIntervalBounds;
    if (configured !== undefined && !(typeof configured === 'number' && configured >= min && configured <= max)) {
      this.configError = `interval must be a number of seconds from ${min} to ${max}, not ${JSON.stringify(configured)}`;
      return;
    }
    const periodMs = typeof configured === 'number' ? configured * 1000 : this.defaultPeriodMs;
    if (desired.version !== this.version) this.stats.configsApplied++;
    this.version = desired.version;
    this.configError = undefined;
    if (periodMs !== this.periodMs) {
      this.periodMs = periodMs;
      this.wake?.();
    }
  }

  private async report(): Promise<void> {
    const state = { interval: this.periodMs / 1000, ...(this.configError ? { error: this.configError } : {}) };
    try {
      await this.uplink.reportState({ version: this.version, state });
    } catch (error) {
      this.onError(asUplinkError(error, 'state'));
      throw error;
    }
  }

  private inOrder(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(step);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
