/**
 * The live progress line of a fleet run on stderr: sent, acked, errors, dropouts and the acked rate.
 *
 * On a terminal one line is rewritten in place (`\r`) a few times a second; in a log (CI, a pipe) a new line
 * goes out every few seconds instead, so the log stays readable.
 */
import type { FleetStats } from './fleet-stats.ts';

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

export function progressText(stats: FleetStats, ratePerSecond: number, now = Date.now()): string {
  const seconds = ((now - stats.startedAt) / 1000).toFixed(0);
  return `${seconds}s  sent ${stats.sent}  acked ${stats.acked}  errors ${stats.errors}  dropouts ${stats.dropouts}  missed ${stats.missed}  ${ratePerSecond.toFixed(1)} msg/s`;
}

/** Starts reporting; `stop` prints the final state once (ending the line on a terminal). */
export function startProgressLine(stats: FleetStats, out: ProgressOutput): { stop(): void } {
  const tty = out.isTTY === true;
  const everyMs = tty ? 250 : 5000;
  let lastAcked = stats.acked;
  let lastAt = Date.now();
  let rate = 0;
  const render = () => {
    const now = Date.now();
    // The rate over the last period, not since the start: it shows a slowdown while it happens.
    rate = ((stats.acked - lastAcked) * 1000) / Math.max(1, now - lastAt);
    lastAcked = stats.acked;
    lastAt = now;
    out.write(tty ? `\r\x1b[2K${progressText(stats, rate, now)}` : `${progressText(stats, rate, now)}\n`);
  };
  const timer = setInterval(render, everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      render();
      if (tty) out.write('\n');
    },
  };
}
