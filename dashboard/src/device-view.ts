/**
 * One device (`#/devices/<id>`): its details and actions (edit, rotate the token, delete), its latest
 * values, a live chart fed by the socket, a history chart, a forecast (forecast-card.ts), its alerts (alerts-card.ts),
 * its configuration and reported state (config-card.ts) and its commands (commands-card.ts). Live values also
 * update the latest table, which is where booleans and strings show (only numbers are charted).
 */
import { renderAlertsCard } from './alerts-card.ts';
import { ApiError, messageOf } from './api.ts';
import { onlineBadge, statusPill, tagList } from './badges.ts';
import { renderCommandsCard } from './commands-card.ts';
import { renderConfigCard } from './config-card.ts';
import { confirmDialog, deviceDialog, tokenDialog } from './dialogs.ts';
import { dateTime, fill, formatValue, h, loading } from './dom.ts';
import { ForecastCard } from './forecast-card.ts';
import { HistoryChart } from './history-chart.ts';
import { ids, testIds } from './ids.ts';
import { LiveChart } from './live-chart.ts';
import { relativeTime } from './relative-time.ts';
import type { AppContext } from './main.ts';
import type { Device, TelemetryValue } from './types.ts';

export function renderDevice(root: HTMLElement, app: AppContext, deviceId: string): () => void {
  let device: Device | undefined;
  let closed = false;
  /** Set while this page deletes the device, so the relay's echo of it is not news. */
  let deleting = false;
  const latest = new Map<string, { ts: number; value: TelemetryValue }>();
  const cleanups: (() => void)[] = [];

  const view = h('section', { id: ids.deviceView, 'data-device-id': deviceId, 'data-live': 'off', 'aria-labelledby': ids.deviceTitle });
  const back = h('a', { id: ids.backToDevices, href: '#/devices', class: 'back' }, '← All devices');
  const head = h('div', { class: 'page-head' });
  const details = h('dl', { id: ids.deviceDetails, class: 'details' });
  const latestBody = h('div', { class: 'latest' }, loading('Loading latest values…'));
  const liveState = h('span', { class: 'live-state', 'aria-live': 'polite' });
  const liveHost = h('div', { id: ids.liveChart });
  const historyHost = h('div');
  const forecastHost = h('div');
  const alertsHost = h('div');
  const configHost = h('div');
  const commandsHost = h('div');

  view.append(
    back,
    head,
    h('div', { class: 'grid two' }, panel('Details', details), panel('Latest values', latestBody)),
    panel('Live', liveHost, liveState),
    panel('History', historyHost),
    panel('Forecast', forecastHost),
    panel('Alerts', alertsHost),
    panel('Configuration', configHost),
    panel('Commands', commandsHost),
  );
  fill(head, h('h1', { id: ids.deviceTitle }, 'Device'));
  root.replaceChildren(view);

  const live = new LiveChart(liveHost);
  const history = new HistoryChart(historyHost, app.api, deviceId);
  const forecast = new ForecastCard(forecastHost, app.api, deviceId);
  cleanups.push(() => live.destroy(), () => history.destroy(), () => forecast.destroy(), renderAlertsCard(alertsHost, app, deviceId));
  cleanups.push(renderConfigCard(configHost, app, deviceId), renderCommandsCard(commandsHost, app, deviceId));

  function renderHead(d: Device): void {
    const edit = h('button', { id: ids.editDeviceButton, type: 'button', class: 'secondary' }, 'Edit');
    const rotate = h('button', { id: ids.rotateTokenButton, type: 'button', class: 'secondary' }, 'Rotate token');
    const remove = h('button', { id: ids.deleteDeviceButton, type: 'button', class: 'danger-outline' }, 'Delete');
    edit.addEventListener('click', () => void editDevice());
    rotate.addEventListener('click', () => void rotateToken());
    remove.addEventListener('click', () => void deleteDevice());
    fill(
      head,
      h('div', { class: 'title-row' }, h('h1', { id: ids.deviceTitle }, d.name), onlineBadge(d.online), statusPill(d.status)),
      h('div', { class: 'page-actions' }, edit, rotate, remove),
    );
  }

  function renderDetails(d: Device): void {
    const rows: [string, Node | string][] = [
      ['Type', d.type],
      ['Tags', tagList(d.tags) ?? h('span', { class: 'muted' }, 'None')],
      ['Last seen', d.lastSeenAt ? relativeTime(d.lastSeenAt) : h('span', { class: 'muted' }, 'Never')],
      ['Created', h('time', { datetime: d.createdAt }, dateTime(d.createdAt))],
      ['Updated', h('time', { datetime: d.updatedAt }, dateTime(d.updatedAt))],
      ['Device id', h('code', {}, d.id)],
    ];
    if (d.location) rows.push(['Location', `${d.location.lat}, ${d.location.lon}${d.location.alt === undefined ? '' : ` (${d.location.alt} m)`}`]);
    if (Object.keys(d.metadata).length) rows.push(['Metadata', h('pre', { class: 'metadata' }, JSON.stringify(d.metadata, null, 2))]);
    fill(details, ...rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
  }

  function showDevice(d: Device): void {
    device = d;
    document.title = `${d.name} · iotfn`;
    renderHead(d);
    renderDetails(d);
  }

  function renderLatest(): void {
    if (!latest.size) {
      fill(
        latestBody,
        h(
          'div',
          { id: ids.latestEmpty, class: 'empty compact' },
          h('p', { class: 'empty-title' }, 'No telemetry yet'),
          h('p', { class: 'muted' }, 'Values appear here as soon as the device sends them.'),
        ),
      );
      return;
    }
    const keys = [...latest.keys()].sort();
    fill(
      latestBody,
      h(
        'table',
        { id: ids.latestTable, class: 'table compact' },
        h('caption', { class: 'visually-hidden' }, 'Latest value of each key'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, 'Time'))),
        h(
          'tbody',
          {},
          ...keys.map((key) => {
            const point = latest.get(key)!;
            return h(
              'tr',
              { 'data-testid': testIds.latestRow, 'data-key': key },
              h('th', { scope: 'row' }, h('code', {}, key)),
              h('td', { 'data-testid': testIds.latestValue, 'data-key': key, class: `value ${typeof point.value}` }, formatValue(point.value)),
              h('td', { class: 'muted' }, relativeTime(point.ts)),
            );
          }),
        ),
      ),
    );
  }

  /** Keeps the newer of what is shown and what came in, so a slow latest-values answer never wins over live data. */
  function mergeLatest(key: string, ts: number, value: TelemetryValue): boolean {
    const shown = latest.get(key);
    if (shown && shown.ts > ts) return false;
    latest.set(key, { ts, value });
    return true;
  }

  function numericKeys(): string[] {
    return [...latest].filter(([, point]) => typeof point.value === 'number').map(([key]) => key);
  }

  async function editDevice(): Promise<void> {
    if (!device) return;
    const current = device;
    const updated = await deviceDialog({ device: current, save: (fields) => app.api.updateDevice(current.id, fields) });
    if (updated && !closed) {
      showDevice(updated);
      app.notify('Device saved');
    }
  }

  async function rotateToken(): Promise<void> {
    if (!device) return;
    const confirmed = await confirmDialog({
      title: 'Rotate the token?',
      message: `${device.name} gets a new token and the current one stops working. Update the device with the new token.`,
      confirm: 'Rotate token',
    });
    if (!confirmed) return;
    try {
      const rotated = await app.api.rotateToken(device.id);
      if (!closed) showDevice(rotated.device);
      await tokenDialog({ device: rotated.device, token: rotated.deviceToken, rotated: true });
    } catch (error) {
      app.notify(`The token was not rotated: ${messageOf(error)}`, 'error');
    }
  }

  async function deleteDevice(): Promise<void> {
    if (!device) return;
    const confirmed = await confirmDialog({
      title: `Delete ${device.name}?`,
      message: 'The device and its token are removed; it can no longer send telemetry. This cannot be undone.',
      confirm: 'Delete device',
      danger: true,
    });
    if (!confirmed) return;
    deleting = true;
    try {
      await app.api.deleteDevice(device.id);
      app.notify(`${device.name} was deleted`);
      app.navigate('#/devices');
    } catch (error) {
      deleting = false;
      app.notify(`The device was not deleted: ${messageOf(error)}`, 'error');
    }
  }

  // Live first, so nothing sent while the page loads is missed.
  cleanups.push(
    app.live.watch([deviceId]),
    app.live.onSubscribed((accepted) => {
      const on = accepted.has(deviceId);
      view.dataset.live = on ? 'on' : 'off';
      fill(liveState, h('span', { class: `live-dot ${on ? 'on' : ''}`, 'aria-hidden': 'true' }), on ? 'Receiving live data' : 'Not receiving live data');
    }),
    app.live.onTelemetry((event) => {
      if (event.deviceId !== deviceId) return;
      live.push(event);
      let changed = false;
      for (const [key, value] of Object.entries(event.values)) changed = mergeLatest(key, event.ts, value) || changed;
      if (changed) {
        renderLatest();
        for (const [key] of Object.entries(event.values)) flash(latestBody, key);
        history.setKeys(numericKeys());
        forecast.setKeys(numericKeys());
      }
    }),
    app.live.onStatus((event) => {
      if (event.deviceId !== deviceId || !device) return;
      showDevice({ ...device, online: event.online, lastSeenAt: event.lastSeenAt ?? device.lastSeenAt });
    }),
    app.live.onDeleted((deleted) => {
      if (deleted !== deviceId || deleting) return;
      app.notify(`${device?.name ?? 'This device'} was deleted`);
      app.navigate('#/devices');
    }),
  );

  void (async () => {
    try {
      showDevice(await app.api.getDevice(deviceId));
    } catch (error) {
      if (closed) return;
      const missing = error instanceof ApiError && (error.status === 404 || error.status === 400);
      fill(
        view,
        back,
        h(
          'div',
          { id: ids.deviceError, class: 'empty' },
          h('p', { class: 'empty-title' }, missing ? 'Device not found' : 'The device could not be loaded'),
          h('p', { class: 'muted' }, missing ? 'It may have been deleted, or it belongs to another account.' : messageOf(error)),
        ),
      );
      return;
    }
    try {
      const answer = await app.api.latestTelemetry(deviceId);
      if (closed) return;
      for (const point of answer.items) mergeLatest(point.key, point.ts, point.value);
      renderLatest();
    } catch (error) {
      if (closed) return;
      // Live values may still fill the table; say why the stored ones are missing.
      if (latest.size) renderLatest();
      else fill(latestBody, h('p', { id: ids.latestError, class: 'alert error', role: 'alert' }, `Latest values could not be loaded: ${messageOf(error)}`));
    }
    history.setKeys(numericKeys());
    forecast.setKeys(numericKeys());
  })();

  return () => {
    closed = true;
    document.title = 'iotfn dashboard';
    cleanups.forEach((cleanup) => cleanup());
  };
}

function panel(title: string, content: HTMLElement, aside?: HTMLElement): HTMLElement {
  const id = `panel-${title.toLowerCase().replace(/\W+/g, '-')}`;
  return h('section', { class: 'card panel', 'aria-labelledby': id }, h('div', { class: 'panel-head' }, h('h2', { id }, title), aside), content);
}

/** Briefly highlights the row of a key that just changed. */
function flash(container: HTMLElement, key: string): void {
  container.querySelector(`tr[data-key="${CSS.escape(key)}"]`)?.classList.add('updated');
}
