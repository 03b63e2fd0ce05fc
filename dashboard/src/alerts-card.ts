/**
 * The Alerts card of a device page: the device's alerts (open first, then cleared, newest first) with an
 * Acknowledge button, kept current by the socket's `alert` event, and a small form to add a rule.
 */
import { messageOf } from './api.ts';
import { dateTime, fill, h } from './dom.ts';
import { busy, clearErrors, field, showErrors } from './forms.ts';
import { ids, testIds } from './ids.ts';
import { relativeTime } from './relative-time.ts';
import type { AppContext } from './main.ts';
import type { Alert, AlertRuleFields, AlertRuleOp } from './types.ts';

const opLabels: Record<AlertRuleOp, string> = { gt: 'above', lt: 'below', outside: 'outside low–high', nodata: 'no data for' };

/** Builds the card into `host`; returns the cleanup that stops its live updates. */
export function renderAlertsCard(host: HTMLElement, app: AppContext, deviceId: string): () => void {
  const alerts = new Map<string, Alert>();
  let closed = false;
  const list = h('div', { class: 'alerts' });

  function render(): void {
    if (!alerts.size) {
      fill(list, h('p', { id: ids.alertsEmpty, class: 'muted' }, 'No alerts. Add a rule below to be told when a value goes wrong.'));
      return;
    }
    // Open ones on top: they are what needs attention.
    const sorted = [...alerts.values()].sort((a, b) => (a.state === b.state ? b.openedAt.localeCompare(a.openedAt) : a.state === 'open' ? -1 : 1));
    fill(
      list,
      h(
        'table',
        { id: ids.alertsList, class: 'table compact' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, 'Opened'), h('th', { scope: 'col' }, ''))),
        h('tbody', {}, ...sorted.map(row)),
      ),
    );
  }

  function row(alert: Alert): HTMLElement {
    const ack = alert.acknowledgedAt
      ? h('span', { class: 'muted', title: dateTime(alert.acknowledgedAt) }, 'Acknowledged')
      : h('button', { type: 'button', class: 'secondary', 'data-testid': testIds.alertAck, 'data-alert-id': alert.id }, 'Acknowledge');
    if (ack instanceof HTMLButtonElement) ack.addEventListener('click', () => void acknowledge(alert.id, ack));
    return h(
      'tr',
      { 'data-testid': testIds.alertRow, 'data-alert-id': alert.id, 'data-state': alert.state },
      h('th', { scope: 'row' }, h('code', {}, alert.key)),
      h('td', { class: alert.state === 'open' ? 'alert-open' : 'muted' }, alert.state === 'open' ? 'Open' : ['Cleared ', alert.clearedAt ? relativeTime(alert.clearedAt) : null]),
      h('td', {}, alert.value === null ? '—' : String(alert.value)),
      h('td', {}, relativeTime(alert.openedAt)),
      h('td', {}, ack),
    );
  }

  async function acknowledge(id: string, button: HTMLButtonElement): Promise<void> {
    try {
      const updated = await busy(button, 'Acknowledging…', () => app.api.acknowledgeAlert(id));
      if (closed) return;
      alerts.set(updated.id, updated);
      render();
    } catch (error) {
      app.notify(`The alert was not acknowledged: ${messageOf(error)}`, 'error');
    }
  }

  const op = h('select', {}, ...Object.entries(opLabels).map(([value, label]) => h('option', { value }, label)));
  const number = (id: string, label: string, name: string) => field({ id, label, name, type: 'number' });
  const formError = h('p', { id: ids.ruleError, class: 'alert error', role: 'alert', hidden: true });
  const submit = h('button', { id: ids.ruleSubmit, type: 'submit', class: 'primary' }, 'Add rule');
  const form = h(
    'form',
    { id: ids.ruleForm, class: 'rule-form', novalidate: true },
    h('h3', {}, 'Add a rule'),
    formError,
    field({ id: ids.ruleKey, label: 'Key', name: 'key', required: true, placeholder: 'e.g. temperature' }),
    field({ id: ids.ruleOp, label: 'When', name: 'op', required: true }, op),
    number(ids.ruleValue, 'Value', 'value'),
    number(ids.ruleLow, 'Low', 'low'),
    number(ids.ruleHigh, 'High', 'high'),
    number(ids.ruleForSeconds, 'For seconds', 'forSeconds'),
    submit,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void addRule();
  });

  /** Sends only the fields that are filled in; the API says which ones the chosen op needs. */
  async function addRule(): Promise<void> {
    clearErrors(form, formError);
    const read = (name: string): number | undefined => {
      const input = form.elements.namedItem(name);
      return input instanceof HTMLInputElement && input.value.trim() !== '' ? Number(input.value) : undefined;
    };
    const key = form.elements.namedItem('key');
    const rule: AlertRuleFields = {
      key: key instanceof HTMLInputElement ? key.value.trim() : '',
      op: op.value as AlertRuleOp,
      value: read('value'),
      low: read('low'),
      high: read('high'),
      forSeconds: read('forSeconds'),
    };
    try {
      await busy(submit, 'Adding…', () => app.api.addAlertRule(deviceId, rule));
      if (closed) return;
      form.reset();
      app.notify('Rule added');
    } catch (error) {
      if (!closed) showErrors(form, formError, error);
    }
  }

  fill(host, list, form);
  render();
  const stopLive = app.live.onAlert((alert) => {
    if (alert.deviceId !== deviceId) return;
    alerts.set(alert.id, alert);
    render();
  });
  void (async () => {
    try {
      const answer = await app.api.alerts(deviceId);
      if (closed) return;
      // A live update may already be newer than the listed copy: keep it.
      for (const alert of answer.items) if (!alerts.has(alert.id)) alerts.set(alert.id, alert);
      render();
    } catch (error) {
      if (!closed) fill(list, h('p', { id: ids.alertsError, class: 'alert error', role: 'alert' }, `Alerts could not be loaded: ${messageOf(error)}`));
    }
  })();

  return () => {
    closed = true;
    stopLive();
  };
}
