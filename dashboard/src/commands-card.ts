/**
 * The Commands card of a device page: a form that sends a command (`POST /devices/{id}/commands`) and the
 * device's recent commands, newest first (`GET /devices/{id}/commands`, "More" for the next page), each
 * with its status, kept current by the socket's `command` event as it goes queued → sent → succeeded,
 * failed or expired.
 *
 * Hooks for tests: `#commands-card[data-state]` (`loading` | `ready` | `error`); each row is
 * `[data-testid=command-row][data-command-id][data-status]`.
 */
import { ApiError, messageOf } from './api.ts';
import { parseJsonObject } from './config-card.ts';
import { dateTime, fill, h, loading } from './dom.ts';
import { busy, clearErrors, field, showErrors } from './forms.ts';
import type { AppContext } from './main.ts';
import { commandIds } from './ids.ts';
import type { Command, CommandFields, CommandPage } from './types.ts';
import { relativeTime } from './relative-time.ts';

export type CommandStatus = Command['status'];

const pageSize = 10;
const statusLabels: Record<CommandStatus, string> = { queued: 'Queued', sent: 'Sent', succeeded: 'Succeeded', failed: 'Failed', expired: 'Expired' };
/** How far along a status is: an update never moves a command back (events and answers may cross). */
const progress: Record<CommandStatus, number> = { queued: 0, sent: 1, succeeded: 2, failed: 2, expired: 2 };

/** Builds the card into `host`; returns the cleanup that stops its live updates. */
export function renderCommandsCard(host: HTMLElement, app: AppContext, deviceId: string): () => void {
  const commands = new Map<string, Command>();
  /** Ids whose row changed since the last render, to highlight. */
  const changed = new Set<string>();
  let nextCursor: string | null = null;
  let loaded = false;
  let closed = false;

  const root = h('div', { id: commandIds.card, 'data-state': 'loading' });
  const list = h('div', { class: 'commands' }, loading('Loading commands…'));
  const more = h('button', { id: commandIds.more, type: 'button', class: 'secondary', hidden: true }, 'More');
  more.addEventListener('click', () => void loadPage());

  function render(): void {
    if (!loaded && !commands.size) return;
    more.hidden = nextCursor === null;
    if (!commands.size) {
      fill(list, h('p', { id: commandIds.empty, class: 'muted' }, 'No commands yet. Send one with the form; the device gets it when it is connected, or when it next polls.'));
      return;
    }
    const sorted = [...commands.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
    fill(
      list,
      h(
        'table',
        { id: commandIds.list, class: 'table compact commands-table' },
        h('caption', { class: 'visually-hidden' }, 'Recent commands, newest first'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Command'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col' }, 'Result'))),
        h('tbody', {}, ...sorted.map(row)),
      ),
    );
    changed.clear();
  }

  function row(command: Command): HTMLElement {
    const params = Object.keys(command.params).length ? compact(command.params) : '';
    return h(
      'tr',
      { 'data-testid': commandIds.row, 'data-command-id': command.id, 'data-status': command.status, class: changed.has(command.id) ? 'updated' : null },
      h('th', { scope: 'row' }, h('code', {}, command.name), params ? h('div', { class: 'muted small command-params', title: params }, clip(params)) : null),
      h('td', {}, statusBadge(command)),
      h('td', {}, relativeTime(command.createdAt)),
      h('td', { class: 'command-result' }, resultOf(command)),
    );
  }

  /** Adds or updates a command; an older copy (a late event, a slow answer) never replaces a newer one. */
  function take(command: Command, options: { fromPage?: boolean } = {}): void {
    const shown = commands.get(command.id);
    if (shown && progress[command.status] < progress[shown.status]) return;
    // A change to a command older than the loaded pages would leave a gap; "More" brings it in order.
    if (!shown && !options.fromPage && nextCursor !== null && command.createdAt < oldest()) return;
    if (shown && shown.status !== command.status && !options.fromPage) changed.add(command.id);
    commands.set(command.id, command);
  }

  function oldest(): string {
    let min = '';
    for (const command of commands.values()) if (!min || command.createdAt < min) min = command.createdAt;
    return min;
  }

  async function loadPage(): Promise<void> {
    try {
      const page = await busy(more, 'Loading…', () => app.api.commands(deviceId, { limit: pageSize, cursor: nextCursor ?? undefined }));
      if (closed) return;
      for (const command of page.commands) take(command, { fromPage: true });
      nextCursor = page.nextCursor;
      loaded = true;
      root.dataset.state = 'ready';
      render();
    } catch (error) {
      if (closed) return;
      if (!loaded) root.dataset.state = 'error';
      const message = h('p', { id: commandIds.loadError, class: 'alert error', role: 'alert' }, `Commands could not be loaded: ${messageOf(error)}`);
      if (loaded || commands.size) list.append(message);
      else fill(list, message);
    }
  }

  const name = field({ id: commandIds.name, label: 'Name', name: 'name', required: true, placeholder: 'e.g. reboot', maxlength: 64 });
  const timeout = field({ id: commandIds.timeout, label: 'Timeout (s)', name: 'timeoutSeconds', type: 'number', placeholder: 'e.g. 60' });
  const timeoutInput = timeout.querySelector('input')!;
  timeoutInput.min = '1';
  timeoutInput.max = '86400';
  const params = h('textarea', {
    id: commandIds.params,
    name: 'params',
    class: 'json-editor small-editor',
    rows: 3,
    spellcheck: 'false',
    autocapitalize: 'off',
    autocomplete: 'off',
    placeholder: '{"delaySeconds": 5}',
    'aria-describedby': `${commandIds.params}-hint`,
  });
  const paramsHint = h('p', { class: 'hint', id: `${commandIds.params}-hint` }, 'A JSON object; leave empty for none.');
  const formError = h('p', { id: commandIds.formError, class: 'alert error', role: 'alert', hidden: true });
  const submit = h('button', { id: commandIds.submit, type: 'submit', class: 'primary' }, 'Send command');
  const form = h(
    'form',
    { id: commandIds.form, class: 'command-form', novalidate: true },
    h('h3', {}, 'Send a command'),
    formError,
    name,
    h('div', { class: 'field' }, h('label', { for: commandIds.params }, 'Params', h('span', { class: 'optional' }, ' (optional)')), params, paramsHint),
    timeout,
    submit,
  );

  /** Empty params are none; anything else has to be a JSON object. */
  function checkParams(): { ok: true; value?: Record<string, unknown> } | { ok: false; problem: string } {
    if (!params.value.trim()) return { ok: true };
    return parseJsonObject(params.value);
  }

  function showParamsCheck(): boolean {
    const parsed = checkParams();
    paramsHint.textContent = parsed.ok ? 'A JSON object; leave empty for none.' : parsed.problem;
    paramsHint.classList.toggle('invalid', !parsed.ok);
    if (parsed.ok) params.removeAttribute('aria-invalid');
    else params.setAttribute('aria-invalid', 'true');
    if (submit.getAttribute('aria-busy') !== 'true') submit.disabled = !parsed.ok;
    return parsed.ok;
  }

  params.addEventListener('input', () => void showParamsCheck());
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void send();
  });

  async function send(): Promise<void> {
    clearErrors(form, formError);
    const parsed = checkParams();
    if (!parsed.ok) return;
    const fields: CommandFields = { name: (form.elements.namedItem('name') as HTMLInputElement).value.trim() };
    if (parsed.value) fields.params = parsed.value;
    if (timeoutInput.value.trim() !== '') fields.timeoutSeconds = Number(timeoutInput.value);
    try {
      const command = await busy(submit, 'Sending…', () => app.api.sendCommand(deviceId, fields));
      if (closed) return;
      take(command, { fromPage: true });
      changed.add(command.id);
      render();
      form.reset();
      app.notify(`Command ${command.name} queued`);
    } catch (error) {
      if (closed) return;
      if (error instanceof ApiError && error.status === 413) {
        clearErrors(form, formError);
        formError.textContent = 'Not sent: the params are too large. They may be at most 64 KiB of JSON.';
        formError.hidden = false;
      } else {
        showErrors(form, formError, error);
      }
    } finally {
      if (!closed) showParamsCheck();
    }
  }

  fill(root, h('div', { class: 'commands-layout' }, form, h('div', { class: 'commands-recent' }, h('h3', {}, 'Recent commands'), list, h('div', { class: 'more-row' }, more))));
  fill(host, root);
  const stopLive = app.live.onCommand((command) => {
    if (command.deviceId !== deviceId) return;
    take(command);
    render();
  });
  void loadPage();

  return () => {
    closed = true;
    stopLive();
  };
}

function statusBadge(command: Command): HTMLElement {
  const times = [
    `Created ${dateTime(command.createdAt)}`,
    command.sentAt ? `sent ${dateTime(command.sentAt)}` : null,
    command.completedAt ? `completed ${dateTime(command.completedAt)}` : null,
    command.status === 'queued' || command.status === 'sent' ? `expires ${dateTime(command.expiresAt)}` : null,
  ].filter(Boolean);
  return h(
    'span',
    { class: `badge command-status ${command.status}`, 'data-testid': commandIds.status, 'data-status': command.status, title: times.join(', ') },
    statusLabels[command.status],
  );
}

function resultOf(command: Command): HTMLElement | string {
  if (command.result === null || command.result === undefined) {
    const waiting = command.status === 'queued' || command.status === 'sent';
    return h('span', { class: 'muted' }, waiting ? 'Waiting for the device' : command.status === 'expired' ? 'No answer in time' : '—');
  }
  const text = compact(command.result);
  return h('code', { title: text }, clip(text));
}

const compact = (value: unknown) => JSON.stringify(value) ?? String(value);

/** Long JSON is cut in the table; its `title` has all of it. */
function clip(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
