/**
 * The agent under its device's configuration and commands (README, "Configuration, state and commands"):
 *
 * - `interval` in the desired configuration is the seconds between readings, 1 to 3600. `--interval` holds until
 *   a configuration arrives, and again when one has no `interval`. After applying a configuration the agent
 *   reports `{version, state: {interval}}`. An interval out of bounds is not applied: the state then carries the
 *   version still in effect and an `error`, so the owner sees the device out of sync, and why.
 * - `ping` is answered `{pong: <ms since the epoch>, hostname}`; any other command fails with
 *   `{error: "unknown command <name>"}`. Each command id is acted on once (command-ledger.ts).
 *
 * `start` reads the configuration once, before the agent's first reading, so the agent starts at the configured
 * pace and a refused token stops it before anything is buffered; then both are long-polled (http-downlink.ts).
 */
import os from 'node:os';
import type { AgentLog } from './agent-log.ts';
import { CommandLedger, unknownCommand } from './command-ledger.ts';
import { DeviceApiError, type DesiredConfig, type DeviceApi, type DeviceCommand } from './device-api.ts';
import { startHttpDownlink, type HttpDownlink } from './http-downlink.ts';

export const intervalBounds = { min: 1, max: 3600 } as const;

export interface RemoteControlOptions {
  api: DeviceApi;
  log: AgentLog;
  /** Seconds between readings while no configuration says otherwise (`--interval`). */
  fallbackInterval: number;
  /** Called with the new interval (seconds) whenever a configuration changes it. */
  onInterval(seconds: number): void;
  /** Called when the platform refuses the token; the polls have ended. */
  onTokenRefused(error: DeviceApiError): void;
  /** Seconds each long poll waits. */
  waitSeconds?: number;
}

export class RemoteControl {
  /** Seconds between readings now. */
  interval: number;
  /** The configuration version in effect: 0 is none (the defaults). */
  private version = 0;
  private downlink: HttpDownlink | undefined;
  private readonly stopping = new AbortController();
  private readonly commands: CommandLedger;

  constructor(private readonly options: RemoteControlOptions) {
    this.interval = options.fallbackInterval;
    this.commands = new CommandLedger((command) => {
      options.log.info('command', { id: command.id, name: command.name });
      return command.name === 'ping' ? { status: 'succeeded', result: { pong: Date.now(), hostname: os.hostname() } } : unknownCommand(command);
    });
  }

  /** Reads and applies the configuration once (an outage leaves `--interval`), then long-polls for changes and commands. */
  async start(): Promise<void> {
    const { api, log } = this.options;
    let applied: number | undefined;
    try {
      const desired = (await api.config(undefined, 0, this.stopping.signal))!;
      await this.apply(desired);
      applied = desired.version;
    } catch (error) {
      if (error instanceof DeviceApiError && error.tokenRefused) return this.options.onTokenRefused(error);
      // Otherwise --interval holds, and the poll below tries again (and logs why it cannot).
    }
    if (this.stopping.signal.aborted) return;
    this.downlink = startHttpDownlink(
      api,
      { config: (desired) => this.apply(desired), command: (command) => this.answer(command) },
      {
        configVersion: applied,
        waitSeconds: this.options.waitSeconds ?? 25,
        onTokenRefused: this.options.onTokenRefused,
        onError: (poll, error, streak) => {
          // Once per outage, as the telemetry does: the backoff retries without a line each.
          if (streak === 1) log.warn(`could not take ${poll === 'config' ? 'the configuration' : 'commands'}; trying again with backoff`, { reason: (error as Error).message });
        },
      },
    );
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.downlink?.stop();
  }

  private async apply(desired: DesiredConfig): Promise<void> {
    const configured = desired.config.interval;
    const { min, max } = intervalBounds;
    // No interval in the configuration: back to --interval.
    let wanted: number | undefined = this.options.fallbackInterval;
    if (configured !== undefined) wanted = typeof configured === 'number' && configured >= min && configured <= max ? configured : undefined;
    let error: string | undefined;
    if (wanted !== undefined) {
      this.version = desired.version;
      if (wanted !== this.interval) {
        this.interval = wanted;
        this.options.onInterval(wanted);
        this.options.log.info('reporting interval from the configuration', { intervalSeconds: wanted, version: desired.version });
      }
    } else {
      error = `interval must be a number of seconds from ${min} to ${max}, not ${JSON.stringify(configured)}`;
      this.options.log.warn(`configuration version ${desired.version} not applied: ${error}`);
    }
    const state = error ? { interval: this.interval, error } : { interval: this.interval };
    await this.options.api.reportState({ version: this.version, state }, this.stopping.signal);
  }

  private async answer(command: DeviceCommand): Promise<void> {
    await this.commands.take(command, (result) => this.options.api.answer(command.id, result, this.stopping.signal));
  }
}
