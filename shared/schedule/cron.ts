/**
 * The five-field cron of a schedule (minute hour day-of-month month day-of-week, in UTC), as much of it as
 * Knative's PingSource and OpenFaaS's cron-connector both read and the registry needs: `*`, numbers, ranges
 * `a-b`, steps (`*` or a range followed by `/n`), lists `a,b`; day-of-week 0–7 with 0 and 7 both Sunday. No names (JAN, MON),
 * no macros (@hourly), no `?`, `L` or `W`: a schedule that uses them is refused here, before a cluster is.
 *
 *   nextCronTick('0 * * * *', Date.parse('2026-01-01T10:20:00Z'))   // → 2026-01-01T11:00:00Z
 */

interface FieldRange {
  name: string;
  min: number;
  max: number;
}

const fields: readonly FieldRange[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
];

export interface Cron {
  /** Whether the day of `at` (UTC) is one the cron fires on: the day-of-month, month and day-of-week fields. */
  dayMatches(at: Date): boolean;
  hourMatches(at: Date): boolean;
  /** Whether the minute `at` falls in (seconds are ignored) is a tick. */
  matches(at: Date): boolean;
}

export class CronError extends Error {
  constructor(expression: string, why: string) {
    super(`cron "${expression}": ${why}`);
    this.name = 'CronError';
  }
}

function parseField(expression: string, text: string, range: FieldRange): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!match) throw new CronError(expression, `the ${range.name} field "${text}" is not a number, range, step or list`);
    const [, whole, from, to, step] = match;
    const first = whole === '*' ? range.min : Number(from);
    // `5/10` means from 5 to the end in steps of 10, as in Vixie cron.
    const last = whole === '*' || (to === undefined && step !== undefined) ? range.max : Number(to ?? from);
    const by = step === undefined ? 1 : Number(step);
    if (first < range.min || last > range.max || first > last || by < 1) {
      throw new CronError(expression, `the ${range.name} field "${text}" is outside ${range.min}-${range.max}`);
    }
    for (let value = first; value <= last; value += by) values.add(value);
  }
  return values;
}

export function parseCron(expression: string): Cron {
  const texts = expression.trim().split(/\s+/);
  if (texts.length !== fields.length) throw new CronError(expression, 'needs five fields: minute hour day-of-month month day-of-week');
  const [minutes, hours, days, months, weekdays] = texts.map((text, i) => parseField(expression, text, fields[i]!)) as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  if (weekdays.has(7)) weekdays.add(0);
  // Classic cron: when both day fields are restricted, a day matching either one is a match.
  const anyDay = texts[2] === '*';
  const anyWeekday = texts[4] === '*';
  const dayMatches = (at: Date): boolean => {
    const byDay = days.has(at.getUTCDate());
    const byWeekday = weekdays.has(at.getUTCDay());
    if (!anyDay && !anyWeekday) return byDay || byWeekday;
    return byDay && byWeekday;
  };
  const hourMatches = (at: Date): boolean => hours.has(at.getUTCHours());
  return {
    dayMatches: (at) => months.has(at.getUTCMonth() + 1) && dayMatches(at),
    hourMatches,
    matches: (at) => minutes.has(at.getUTCMinutes()) && hourMatches(at) && months.has(at.getUTCMonth() + 1) && dayMatches(at),
  };
}

const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;
/** Far enough for any expression that fires at all (29 February comes within 8 years). */
const horizon = 8 * 366 * day;

/** The first tick strictly after `after` (epoch ms), as epoch ms. Skips whole days and hours that cannot match. */
export function nextCronTick(cron: string | Cron, after: number): number {
  const parsed = typeof cron === 'string' ? parseCron(cron) : cron;
  let at = Math.floor(after / minute) * minute + minute;
  const end = at + horizon;
  while (at < end) {
    const date = new Date(at);
    if (!parsed.dayMatches(date)) at = Math.floor(at / day) * day + day;
    else if (!parsed.hourMatches(date)) at = Math.floor(at / hour) * hour + hour;
    else if (!parsed.matches(date)) at += minute;
    else return at;
  }
  throw new CronError(typeof cron === 'string' ? cron : 'expression', 'never fires');
}
