/**
 * What the platform sends a device, taken over HTTP: two long polls running beside the telemetry, one for the
 * desired configuration (`GET /device/config?wait=25` with `If-None-Match` of the version last taken) and one
 * for pending commands (`GET /device/commands?wait=25`). Each message is handed over and awaited before the
 * next poll, so a command is answered before it could come again.
 *
 * Outages (unreachable, timeouts, 5xx, 429) are retried with backoff, 1 s doubling to 60 s, and any other
 * refusal (a platform without these routes answers 404) every 60 s; a refused token (401/403) ends both polls
 * and is reported once. `stop` aborts the polls in flight and
 * resolves once both have ended.
 *
 *   const downlink = startHttpDownlink(api, { config: async (desired) => …, command: async (command) => … }, { onTokenRefused });
 *   await downlink.stop();
 */
import { DeviceApiError, type DesiredConfig, type DeviceApi, type DeviceCommand } from './device-api.ts';

export interface DownlinkHandlers {
  config(desired: DesiredConfig): Promise<void>;
  command(command: DeviceCommand): Promise<void>;
}

export interface HttpDownlinkOptions {
  /** The configuration version the device has already applied: the first poll waits for another. */
  configVersion?: number | undefined;
  /** Seconds each long poll may wait (at most 30). */
  waitSeconds?: number;
  /** Called once, when the platform refuses the token; the polls have ended. */
  onTokenRefused?(error: DeviceApiError): void;
  /**
   * Called for each failure that will be retried, `poll` naming which: a DeviceApiError from the poll itself,
   * or whatever a handler threw (a handler that throws gets the same message again, after the backoff).
   * `streak` counts the failures in a row, 1 for the first since the poll last worked.
   */
  onError?(poll: 'config' | 'commands', error: unknown, streak: number): void;
  backoff?: { firstMs: number; maxMs: number };
}

export interface HttpDownlink {
  stop(): Promise<void>;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export function startHttpDownlink(api: DeviceApi, handlers: DownlinkHandlers, options: HttpDownlinkOptions = {}): HttpDownlink {
  const { waitSeconds = 25, backoff = { firstMs: 1000, maxMs: 60_000 } } = options;
  const stopping = new AbortController();
  const signal = stopping.signal;
  let refused = false;

  const poll = async (name: 'config' | 'commands', once: () => Promise<void>) => {
    let delayMs = backoff.firstMs;
    let streak = 0;
    while (!signal.aborted) {
      try {
        await once();
        delayMs = backoff.firstMs;
        streak = 0;
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof DeviceApiError && error.tokenRefused) {
          if (!refused) options.onTokenRefused?.(error);
          refused = true;
          stopping.abort();
          return;
        }
        options.onError?.(name, error, ++streak);
        // An answer that is not an outage will most likely be the same next time.
        if (error instanceof DeviceApiError && !error.transient) delayMs = backoff.maxMs;
        // Jitter, so a fleet that lost the platform at once does not come back at once.
        await pause(delayMs * (0.5 + Math.random() / 2), signal);
        delayMs = Math.min(backoff.maxMs, delayMs * 2);
      }
    }
  };

  let known = options.configVersion;
  const configPoll = poll('config', async () => {
    const desired = await api.config(known, waitSeconds, signal);
    if (!desired || signal.aborted) return;
    await handlers.config(desired);
    // Taken only once handled: a configuration whose handling failed is fetched and handled again.
    known = desired.version;
  });

  let previous = new Set<string>();
  const commandsPoll = poll('commands', async () => {
    const commands = await api.commands(waitSeconds, signal);
    for (const command of commands) {
      if (signal.aborted) return;
      await handlers.command(command);
    }
    // Commands stay pending until answered; the same ones again at once would make this poll spin.
    if (commands.length > 0 && commands.every((c) => previous.has(c.id))) await pause(1000, signal);
    previous = new Set(commands.map((c) => c.id));
  });

  return {
    async stop() {
      stopping.abort();
      await Promise.all([configPoll, commandsPoll]);
    },
  };
}
