/**
 * The device list (`#/devices`): the fleet overview (fleet-overview.ts), search, online state kept current by
 * the socket's `device:status`, and adding a device (its token is shown once, right after).
 *
 * The columns run from what matters most (name, connection, last seen) to the least; on a phone the table
 * becomes one stacked card per device (styles.css), each cell labelled by its `data-label`.
 */
import { messageOf } from './api.ts';
import { onlineBadge, statusPill, tagList } from './badges.ts';
import { deviceDialog, tokenDialog } from './dialogs.ts';
import { fill, h, loading } from './dom.ts';
import { FleetOverview, loadFleetFigures } from './fleet-overview.ts';
import { ids, testIds } from './ids.ts';
import type { AppContext } from './main.ts';
import { relativeTime } from './relative-time.ts';
import type { Device } from './types.ts';

/** Most important first: on a narrow screen the first ones are the ones surely seen. */
const columns = ['Name', 'Connection', 'Last seen', 'Type', 'Status'];

export function renderDevices(root: HTMLElement, app: AppContext): () => void {
  let devices: Device[] = [];
  let total = 0;
  let totalIsEstimate = false;
  let query = '';
  let request = 0;
  let unwatch = () => {};

  const search = h('input', {
    id: ids.deviceSearch,
    type: 'search',
    placeholder: 'Search by name or tag',
    autocomplete: 'off',
    'aria-label': 'Search devices by name or tag',
  });
  const add = h('button', { id: ids.addDeviceButton, type: 'button', class: 'primary' }, h('span', { 'aria-hidden': 'true' }, '+ '), 'Add device');
  const count = h('p', { id: ids.devicesCount, class: 'muted', 'aria-live': 'polite' });
  const body = h('div', { class: 'card table-card' });
  const overview = new FleetOverview();
  let overviewRequest = 0;

  root.replaceChildren(
    h(
      'section',
      { id: ids.devicesView, 'aria-labelledby': 'devices-heading' },
      h('div', { class: 'page-head' }, h('div', {}, h('h1', { id: 'devices-heading' }, 'Devices'), count), h('div', { class: 'page-actions' }, search, add)),
      overview.element,
      body,
    ),
  );

  async function load(): Promise<void> {
    const mine = ++request;
    if (!devices.length) fill(body, loading('Loading devices…'));
    try {
      const page = await app.api.listDevices(query);
      if (mine !== request) return;
      devices = page.items;
      total = page.total;
      totalIsEstimate = page.totalIsEstimate;
      // Watch the new set before dropping the old one, so devices in both are never unsubscribed between.
      const stop = unwatch;
      unwatch = app.live.watch(devices.map((d) => d.id));
      stop();
      render();
    } catch (error) {
      if (mine !== request) return;
      fill(body, h('p', { id: ids.devicesError, class: 'alert error', role: 'alert' }, `Devices could not be loaded: ${messageOf(error)}`));
    }
  }

  /** The overview is the whole fleet's, asked again when something it counts may have changed. */
  async function loadOverview(): Promise<void> {
    const mine = ++overviewRequest;
    try {
      const figures = await loadFleetFigures(app.api);
      if (mine === overviewRequest) overview.show(figures);
    } catch (error) {
      if (mine === overviewRequest) overview.failed(error);
    }
  }
  let overviewPending: ReturnType<typeof setTimeout> | undefined;
  /** Status changes and alerts come in bursts (a fleet reconnecting): one reload a second at most. */
  function overviewChanged(): void {
    overviewPending ??= setTimeout(() => {
      overviewPending = undefined;
      void loadOverview();
    }, 1000);
  }

  function render(): void {
    // An estimate is rounded and said to be one: "about 98,000", never a precise-looking wrong number.
    const of = totalIsEstimate ? `about ${Number(total.toPrecision(2)).toLocaleString('en')}` : String(total);
    count.textContent = total > devices.length ? `Showing ${devices.length} of ${of}` : `${total} ${total === 1 ? 'device' : 'devices'}`;
    if (!devices.length) {
      fill(body, query ? emptySearch(query) : emptyList());
      return;
    }
    fill(
      body,
      h(
        'table',
        { class: 'table' },
        h('caption', { class: 'visually-hidden' }, 'Your devices'),
        h('thead', {}, h('tr', {}, ...columns.map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', { id: ids.deviceList }, ...devices.map(row)),
      ),
    );
  }

  /** Redraws one row in place: status and telemetry events change a single device. */
  function refreshRow(device: Device): void {
    body.querySelector(`tr[data-device-id="${CSS.escape(device.id)}"]`)?.replaceWith(row(device));
  }

  function row(device: Device): HTMLElement {
    const href = `#/devices/${encodeURIComponent(device.id)}`;
    const tr = h(
      'tr',
      { 'data-testid': testIds.deviceRow, 'data-device-id': device.id, class: 'clickable' },
      h('td', { class: 'cell-name' }, h('a', { href, class: 'device-name', 'data-testid': testIds.deviceLink }, device.name), tagList(device.tags)),
      h('td', { class: 'cell-connection', 'data-label': 'Connection' }, onlineBadge(device.online)),
      h('td', { class: 'cell-last-seen muted', 'data-label': 'Last seen' }, device.lastSeenAt ? relativeTime(device.lastSeenAt) : 'Never'),
      h('td', { class: 'cell-type', 'data-label': 'Type' }, device.type),
      h('td', { class: 'cell-status', 'data-label': 'Status' }, statusPill(device.status)),
    );
    // The whole row opens the device; the link inside stays the keyboard and screen-reader way in.
    tr.addEventListener('click', (event) => {
      if (!(event.target instanceof Element && event.target.closest('a'))) app.navigate(href);
    });
    return tr;
  }

  function emptyList(): HTMLElement {
    const first = h('button', { type: 'button', class: 'primary' }, 'Add your first device');
    first.addEventListener('click', () => void addDevice());
    return h(
      'div',
      { id: ids.devicesEmpty, class: 'empty' },
      h('div', { class: 'empty-icon', 'aria-hidden': 'true' }),
      h('p', { class: 'empty-title' }, 'No devices yet'),
      h('p', { class: 'muted' }, 'Add a device to get its token, then send telemetry over HTTP or MQTT.'),
      first,
    );
  }

  function emptySearch(text: string): HTMLElement {
    const clear = h('button', { type: 'button', class: 'secondary' }, 'Clear search');
    clear.addEventListener('click', () => {
      search.value = '';
      query = '';
      void load();
    });
    return h('div', { id: ids.devicesEmpty, class: 'empty' }, h('p', { class: 'empty-title' }, `No devices match “${text}”`), h('p', { class: 'muted' }, 'Search looks at names and tags.'), clear);
  }

  async function addDevice(): Promise<void> {
    const created = await deviceDialog({ save: (fields) => app.api.addDevice(fields) });
    if (!created) return;
    void loadOverview();
    await load();
    await tokenDialog({ device: created.device, token: created.deviceToken });
  }

  let debounce: ReturnType<typeof setTimeout> | undefined;
  search.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      query = search.value.trim();
      void load();
    }, 250);
  });
  add.addEventListener('click', () => void addDevice());

  const stopStatus = app.live.onStatus((event) => {
    overviewChanged();
    const device = devices.find((d) => d.id === event.deviceId);
    if (!device) return;
    device.online = event.online;
    device.lastSeenAt = event.lastSeenAt ?? device.lastSeenAt;
    refreshRow(device);
  });
  const stopTelemetry = app.live.onTelemetry((event) => {
    overview.dataArrived(Math.min(event.ts, Date.now()));
    const device = devices.find((d) => d.id === event.deviceId);
    if (!device) return;
    device.lastSeenAt = new Date(Math.max(event.ts, Date.parse(device.lastSeenAt ?? '') || 0)).toISOString();
    refreshRow(device);
  });
  const stopDeleted = app.live.onDeleted((deviceId) => {
    const before = devices.length;
    devices = devices.filter((d) => d.id !== deviceId);
    if (devices.length === before) return;
    total -= 1;
    render();
    void loadOverview();
  });
  const stopAlerts = app.live.onAlert(() => overviewChanged());

  void load();
  void loadOverview();
  return () => {
    request += 1;
    overviewRequest += 1;
    clearTimeout(debounce);
    clearTimeout(overviewPending);
    stopAlerts();
    stopStatus();
    stopTelemetry();
    stopDeleted();
    unwatch();
  };
}
