/**
 * The fleet overview at the top of the devices page: how many devices are online and offline, how many
 * alerts are open, devices by type, and when data last arrived, for the whole fleet (not the search).
 *
 * It is made of the API that exists, so some figures are exact only up to a size:
 * - online and offline: exact, the device search's `total` with `online=true` (`limit=1` is a count);
 * - open alerts: exact up to 500 (one page of `GET /alerts?state=open`), "500+" beyond;
 * - by type: the types of the newest 100 devices, each counted exactly with `type=` (at most `maxTypes`
 *   of them; the rest is "other");
 * - last data: the latest `lastSeenAt` of the online devices (the newest 100 of them), else of the newest 100.
 * A `GET /devices/summary` answering all of it in one query would lift those limits (see the report).
 */
import { messageOf, type Api } from './api.ts';
import { fill, h } from './dom.ts';
import { ids, testIds } from './ids.ts';
import { relativeTime } from './relative-time.ts';
import type { Device } from './types.ts';

const pageSize = 100;
const alertPage = 500;
const maxTypes = 6;

export interface FleetFigures {
  total: number;
  online: number;
  openAlerts: number;
  /** More open alerts than one page holds. */
  moreAlerts: boolean;
  byType: { type: string; count: number }[];
  lastDataAt: string | null;
}

/** Asks the API for the figures (four to ten small requests, all at once where they can be). */
export async function loadFleetFigures(api: Api): Promise<FleetFigures> {
  const [all, online, alerts] = await Promise.all([api.fleetPage({ limit: pageSize }), api.fleetPage({ online: true, limit: pageSize }), api.openAlerts(alertPage)]);
  const seen = new Map<string, number>();
  for (const device of all.items) seen.set(device.type, (seen.get(device.type) ?? 0) + 1);
  const types = [...seen].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, maxTypes);
  // The first page is the whole fleet when it is small: its own counts are exact then.
  const byType =
    all.total <= all.items.length
      ? types.map(([type, count]) => ({ type, count }))
      : await Promise.all(types.map(async ([type]) => ({ type, count: (await api.fleetPage({ type, limit: 1 })).total })));
  const counted = byType.reduce((sum, t) => sum + t.count, 0);
  if (all.total > counted) byType.push({ type: 'other', count: all.total - counted });
  return {
    total: all.total,
    online: online.total,
    openAlerts: alerts.items.length,
    moreAlerts: alerts.nextCursor !== null,
    byType,
    lastDataAt: latestSeen(online.items) ?? latestSeen(all.items),
  };
}

function latestSeen(devices: readonly Device[]): string | null {
  let latest: string | null = null;
  for (const device of devices) if (device.lastSeenAt && (!latest || device.lastSeenAt > latest)) latest = device.lastSeenAt;
  return latest;
}

/** The overview's element; `show` fills it, `failed` says the figures could not be had. */
export class FleetOverview {
  readonly element = h('section', { id: ids.fleetOverview, class: 'fleet-overview', 'aria-label': 'Fleet overview', 'data-state': 'loading' });
  private figures: FleetFigures | undefined;
  /** Where "Last data" is shown: telemetry moves it many times a second on a busy fleet, so only it is redrawn. */
  private readonly lastData = h('span', { class: 'stat-value small' });

  show(figures: FleetFigures): void {
    this.figures = figures;
    const { total, online, openAlerts, moreAlerts, byType, lastDataAt } = figures;
    const offline = Math.max(total - online, 0);
    fill(this.lastData, lastDataAt ? relativeTime(lastDataAt) : 'None yet');
    Object.assign(this.element.dataset, { state: 'ready', total: String(total), online: String(online), offline: String(offline), openAlerts: String(openAlerts) });
    fill(
      this.element,
      stat(ids.fleetTotal, 'Devices', String(total), ''),
      stat(ids.fleetOnline, 'Online', String(online), online > 0 ? 'good' : ''),
      stat(ids.fleetOffline, 'Offline', String(offline), ''),
      stat(ids.fleetOpenAlerts, 'Open alerts', moreAlerts ? `${openAlerts}+` : String(openAlerts), openAlerts > 0 ? 'bad' : ''),
      h(
        'div',
        { class: 'stat', id: ids.fleetLastData },
        h('span', { class: 'stat-label' }, 'Last data'),
        this.lastData,
      ),
      h(
        'div',
        { class: 'stat wide' },
        h('span', { class: 'stat-label' }, 'By type'),
        byType.length
          ? h(
              'ul',
              { id: ids.fleetByType, class: 'type-counts' },
              ...byType.map((t) => h('li', { 'data-testid': testIds.fleetType, 'data-type': t.type, 'data-count': String(t.count) }, h('span', {}, t.type), ' ', h('strong', {}, String(t.count)))),
            )
          : h('span', { class: 'muted' }, 'No devices yet'),
      ),
    );
  }

  /** A device sent data: the "Last data" figure moves without asking the API again. */
  dataArrived(ts: number): void {
    if (!this.figures) return;
    const iso = new Date(ts).toISOString();
    if (this.figures.lastDataAt && this.figures.lastDataAt >= iso) return;
    this.figures.lastDataAt = iso;
    fill(this.lastData, relativeTime(iso));
  }

  failed(error: unknown): void {
    this.element.dataset.state = 'error';
    fill(this.element, h('p', { class: 'muted small' }, `The fleet overview could not be loaded: ${messageOf(error)}`));
  }
}

function stat(id: string, label: string, value: string, tone: string): HTMLElement {
  return h('div', { class: `stat ${tone}`.trim(), id }, h('span', { class: 'stat-label' }, label), h('span', { class: 'stat-value' }, value));
}
