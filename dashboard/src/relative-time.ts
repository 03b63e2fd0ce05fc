/**
 * Relative times that stay true while a page is open ("3 seconds ago", then "4 seconds ago"): views make
 * them with `relativeTime(when)`, and one clock for the whole page (`startRelativeClock`, started by main.ts)
 * rewrites every one of them each second. Views need no timers of their own, and a table is never re-rendered
 * just to age its times.
 *
 *   h('td', {}, 'Cleared ', relativeTime(alert.clearedAt))
 */
import { dateTime, h, timeAgo } from './dom.ts';

/** Marks a `<time>` the clock keeps current; its `datetime` is what it counts from. */
const marker = 'data-relative';
/** A second: the finest unit the text shows, so a slower tick would let "5 seconds ago" lag. */
const tickMs = 1000;

/** A `<time>` that reads "2 minutes ago", with the full date and time as its tooltip. */
export function relativeTime(when: string | number | Date): HTMLTimeElement {
  const iso = new Date(when).toISOString();
  return h('time', { datetime: iso, title: dateTime(iso), [marker]: '' }, timeAgo(iso));
}

/** Rewrites every relative time in `root` that changed; only changed text is written, so nothing flickers. */
export function refreshRelativeTimes(root: ParentNode = document, now = Date.now()): void {
  for (const element of root.querySelectorAll<HTMLTimeElement>(`time[${marker}]`)) {
    const text = timeAgo(element.dateTime, now);
    if (element.textContent !== text) element.textContent = text;
  }
}

/** Starts the page's one clock; returns what stops it. */
export function startRelativeClock(): () => void {
  const timer = setInterval(() => refreshRelativeTimes(), tickMs);
  return () => clearInterval(timer);
}
