/**
 * The relay's flow control for live telemetry: at most one update per device per window, and never a held-back
 * first point.
 *
 * Leading edge: a device's first points after a quiet window go out at once. Points that come while its window
 * is open are merged (the newest value of each key, dated by the newest point) and go out together when the
 * window ends, which opens the next window; a window that ends with nothing waiting closes, and the next point
 * goes out at once again. So an update always carries the newest point the relay has, and its latency is at
 * most the window plus the relay's own latency, where a trailing-only window (the first point waits the whole
 * window) would add the window to every update. A window of 0 sends every message as it comes.
 *
 *   const live = liveCoalescer(100, (deviceId, update) => emitToRoom(deviceId, { deviceId, ...update }));
 *   live.take(deviceId, points);   // at once, or merged into the update that ends the device's window
 *   live.stop();                   // drops what waits, clears the timers
 */
import type { LiveTelemetry, StoredPoint } from '../shared/messages.ts';

export type LiveUpdate = Omit<LiveTelemetry, 'deviceId'>;

export interface LiveCoalescer {
  take(deviceId: string, points: readonly StoredPoint[]): void;
  stop(): void;
}

interface Window {
  timer: NodeJS.Timeout;
  /**
   * What came since the window opened, merged. It starts at the time of the update that opened the window, so
   * a point older than what the browser has already seen does not go out after it.
   */
  waiting: LiveUpdate;
}

/** Merges points into an update: the newest point's time and values win, older points fill in no key. */
function merge(update: LiveUpdate, points: readonly StoredPoint[]): LiveUpdate {
  for (const point of [...points].sort((a, b) => a.ts - b.ts)) {
    if (point.ts >= update.ts) {
      Object.assign(update.values, point.values);
      update.ts = point.ts;
    }
  }
  return update;
}

export function liveCoalescer(windowMs: number, emit: (deviceId: string, update: LiveUpdate) => void): LiveCoalescer {
  const open = new Map<string, Window>();

  function openWindow(deviceId: string, sentTs: number): void {
    const window: Window = {
      waiting: { ts: sentTs, values: {} },
      timer: setTimeout(() => {
        open.delete(deviceId);
        const { waiting } = window;
        if (Object.keys(waiting.values).length === 0) return;
        // The window's merged update goes out now and opens the next window, so updates stay one per window.
        emit(deviceId, waiting);
        openWindow(deviceId, waiting.ts);
      }, windowMs),
    };
    window.timer.unref();
    open.set(deviceId, window);
  }

  return {
    take(deviceId, points) {
      if (points.length === 0) return;
      const window = open.get(deviceId);
      if (window) {
        merge(window.waiting, points);
        return;
      }
      const update = merge({ ts: 0, values: {} }, points);
      emit(deviceId, update);
      if (windowMs > 0) openWindow(deviceId, update.ts);
    },
    stop() {
      for (const window of open.values()) clearTimeout(window.timer);
      open.clear();
    },
  };
}
