/**
 * The Configuration card of a device page: the desired configuration in a JSON editor, checked as it is
 * typed, saved as the next version (`PUT /devices/{id}/config` with `If-Match` of the version it was loaded
 * at, so a change made elsewhere meanwhile is a 412 and never overwritten); beside it the state the device
 * last reported, and whether the device applied the desired version. The socket's `device:config` events
 * keep both sides current.
 *
 * Hooks for tests: `#config-card[data-state]` (`loading` | `ready` | `error`) and `[data-desired-version]`,
 * `#config-sync[data-in-sync]` (`true` | `false`).
 */
import { ApiError, messageOf } from './api.ts';
import { fill, h, loading } from './dom.ts';
import { busy } from './forms.ts';
import type { AppContext } from './main.ts';
import { configIds } from './ids.ts';
import type { DesiredConfig, DeviceConfigEvent, DeviceConfigView, ReportedState } from './types.ts';
import { relativeTime } from './relative-time.ts';

/** Text that parsed to a JSON object, or the reason in plain words why not. */
export type JsonObjectCheck = { ok: true; value: Record<string, unknown> } | { ok: false; problem: string };

/** Parses what someone typed as a JSON object, saying what is wrong in words a person can act on. */
export function parseJsonObject(text: string): JsonObjectCheck {
  if (!text.trim()) return { ok: false, problem: 'Write a JSON object, such as {"interval": 30}. An empty one is {}.' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: jsonSyntaxProblem(text, error) };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, problem: `This is valid JSON but ${kindOf(value)}; it has to be an object in braces, such as {"interval": 30}.` };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return 'a number';
  return typeof value === 'boolean' ? `${value}` : 'not an object';
}

/** "Not valid JSON at line 2, column 14: expected ',' or '}' after property value." */
function jsonSyntaxProblem(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const position = /at position (\d+)/.exec(message);
  // Chrome says where ("in JSON at position 12 (line 2 column 3)"); the place is given once, as line and column.
  const reason = message
    .replace(/^JSON\.parse: /, '')
    .replace(/\s*in JSON at position \d+.*$/s, '')
    .replace(/\.$/, '');
  const lower = reason.charAt(0).toLowerCase() + reason.slice(1);
  if (!position) return `Not valid JSON: ${lower}.`;
  const before = text.slice(0, Number(position[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `Not valid JSON at line ${line}, column ${column}: ${lower}.`;
}

const pretty = (value: unknown) => JSON.stringify(value, null, 2);

/** Builds the card into `host`; returns the cleanup that stops its live updates. */
export function renderConfigCard(host: HTMLElement, app: AppContext, deviceId: string): () => void {
  let closed = false;
  let desired: DesiredConfig | undefined;
  /** Undefined until known; null when the device never reported. */
  let reported: ReportedState | null | undefined;
  /** The version the editor's text was loaded at: what Save names in `If-Match`. */
  let loadedVersion = 0;
  let loadedText = '';
  /** The loaded configuration as compact JSON, to tell a real change from reformatting. */
  let loadedJson = '{}';

  const root = h('div', { id: configIds.card, class: 'config-card', 'data-state': 'loading' }, loading('Loading the configuration…'));
  const badge = h('span', { id: configIds.syncBadge, class: 'badge sync', role: 'status' });
  const desiredMeta = h('p', { id: configIds.desiredMeta, class: 'config-meta' });
  const editor = h('textarea', {
    id: configIds.editor,
    class: 'json-editor',
    rows: 10,
    spellcheck: 'false',
    autocapitalize: 'off',
    autocomplete: 'off',
    'aria-describedby': `${configIds.editorMessage} ${configIds.desiredMeta}`,
  });
  const editorMessage = h('p', { id: configIds.editorMessage, class: 'editor-message' });
  const saveError = h('p', { id: configIds.saveError, class: 'alert error', role: 'alert', hidden: true });
  const save = h('button', { id: configIds.save, type: 'submit', class: 'primary' }, 'Save');
  const revert = h('button', { id: configIds.revert, type: 'button', class: 'secondary' }, 'Revert');
  const reportedMeta = h('p', { class: 'config-meta' });
  const reportedBody = h('div', { id: configIds.reported });
  const form = h(
    'form',
    { class: 'config-side', novalidate: true },
    h('h3', {}, h('label', { for: configIds.editor }, 'Desired configuration')),
    desiredMeta,
    saveError,
    editor,
    editorMessage,
    h('div', { class: 'editor-actions' }, save, revert),
  );
  const ready = h(
    'div',
    {},
    h('div', { class: 'config-sync-row' }, badge),
    h('div', { class: 'config-grid' }, form, h('div', { class: 'config-side' }, h('h3', {}, 'Reported state'), reportedMeta, reportedBody)),
  );

  /** Checks the editor's text and sets Save, Revert and the message under the editor from it. */
  function check(): JsonObjectCheck {
    const parsed = parseJsonObject(editor.value);
    const changed = !parsed.ok || JSON.stringify(parsed.value) !== loadedJson;
    if (parsed.ok) editor.removeAttribute('aria-invalid');
    else editor.setAttribute('aria-invalid', 'true');
    editorMessage.classList.toggle('invalid', !parsed.ok);
    if (!parsed.ok) editorMessage.textContent = parsed.problem;
    else if (!changed) editorMessage.textContent = `No unsaved changes to version ${loadedVersion}.`;
    else editorMessage.textContent = 'Valid JSON object, not saved yet.';
    if (save.getAttribute('aria-busy') !== 'true') save.disabled = !parsed.ok || !changed;
    revert.disabled = editor.value === loadedText;
    return parsed;
  }

  /** Puts a version into the editor, dropping whatever was typed. */
  function loadEditor(config: DesiredConfig): void {
    loadedVersion = config.version;
    loadedText = pretty(config.config);
    loadedJson = JSON.stringify(config.config);
    editor.value = loadedText;
    check();
  }

  function renderDesired(): void {
    if (!desired) return;
    root.dataset.desiredVersion = String(desired.version);
    const when = desired.updatedAt;
    fill(
      desiredMeta,
      desired.version === 0 ? 'Never set: the device gets {}. ' : `Version ${desired.version}`,
      when ? [' · updated ', relativeTime(when)] : null,
      loadedVersion < desired.version ? h('span', { class: 'newer' }, ` · version ${desired.version} was saved elsewhere; you are editing version ${loadedVersion}`) : null,
    );
  }

  function renderReported(): void {
    if (reported === undefined) return;
    if (reported === null) {
      fill(reportedMeta, 'Nothing yet');
      fill(reportedBody, h('p', { class: 'muted' }, 'The device has not reported its state. It does so with PUT /device/state or on its MQTT state topic.'));
      return;
    }
    const when = reported.reportedAt;
    fill(
      reportedMeta,
      reported.version === null ? 'No version' : `Version ${reported.version}`,
      ' · reported ',
      relativeTime(when),
    );
    fill(reportedBody, h('pre', { class: 'json-view', tabindex: 0, 'aria-label': 'Reported state' }, pretty(reported.state)));
  }

  function renderSync(): void {
    if (!desired || reported === undefined) return;
    // The same rule as the API's inSync, so live updates need no extra request.
    const inSync = reported !== null && reported.version === desired.version;
    badge.dataset.inSync = String(inSync);
    badge.className = `badge sync ${inSync ? 'in-sync' : 'out-of-sync'}`;
    const device = reported === null ? 'no report from the device yet' : reported.version === null ? 'device reports no version' : `device reports version ${reported.version}`;
    fill(badge, h('span', { class: 'dot', 'aria-hidden': 'true' }), inSync ? 'In sync' : `Not in sync (${device}, desired ${desired.version})`);
  }

  function render(): void {
    if (!desired || reported === undefined) return;
    if (root.dataset.state !== 'ready') {
      fill(root, ready);
      root.dataset.state = 'ready';
    }
    renderDesired();
    renderReported();
    renderSync();
  }

  /** A desired version newer than the one shown; the editor follows unless it holds unsaved edits. */
  function takeDesired(next: DesiredConfig): void {
    if (desired && next.version <= desired.version) return;
    const editing = desired !== undefined && editor.value !== loadedText;
    desired = next;
    if (!editing) loadEditor(next);
  }

  function takeReported(next: ReportedState | null): void {
    if (next === null) {
      reported ??= null;
      return;
    }
    if (reported && next.reportedAt < reported.reportedAt) return;
    reported = next;
  }

  function showSaveError(text: string): void {
    saveError.textContent = text;
    saveError.hidden = false;
  }

  async function load(): Promise<void> {
    const view = await app.api.deviceConfig(deviceId);
    if (closed) return;
    takeDesired(view.desired);
    takeReported(view.reported);
    render();
  }

  async function submit(): Promise<void> {
    const parsed = check();
    if (!parsed.ok || !desired) return;
    saveError.hidden = true;
    try {
      const saved = await busy(save, 'Saving…', () => app.api.setDeviceConfig(deviceId, parsed.value, loadedVersion));
      if (closed) return;
      if (desired.version < saved.version) desired = saved;
      loadEditor(saved);
      render();
      app.notify(`Configuration version ${saved.version} saved`);
    } catch (error) {
      if (closed) return;
      if (error instanceof ApiError && error.status === 412) {
        // Someone saved first: show what is current now rather than overwrite it.
        const stale = loadedVersion;
        try {
          const view = await app.api.deviceConfig(deviceId);
          if (closed) return;
          // A live event may already have brought a newer version than this answer.
          if (!desired || view.desired.version >= desired.version) desired = view.desired;
          takeReported(view.reported);
          loadEditor(desired);
          render();
          showSaveError(`Not saved: the configuration was changed elsewhere — reloaded (now version ${desired.version}; your edits were on version ${stale}). Make your change again if it is still needed.`);
        } catch (reload) {
          if (!closed) showSaveError(`Not saved: the configuration was changed elsewhere, and reloading it failed: ${messageOf(reload)}`);
        }
      } else if (error instanceof ApiError && error.status === 413) {
        showSaveError(`Not saved: the configuration is too large. It may be at most 64 KiB of JSON (${messageOf(error)}).`);
      } else {
        showSaveError(`Not saved: ${messageOf(error)}`);
      }
    } finally {
      if (!closed) check();
    }
  }

  editor.addEventListener('input', () => {
    check();
    renderDesired();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submit();
  });
  revert.addEventListener('click', () => {
    saveError.hidden = true;
    if (desired) loadEditor(desired);
    renderDesired();
  });

  fill(host, root);
  const stopLive = app.live.onConfig((event) => {
    if (event.deviceId !== deviceId) return;
    if (event.kind === 'desired') takeDesired({ version: event.version, config: event.config, updatedAt: event.updatedAt });
    else takeReported({ version: event.version, state: event.state, reportedAt: event.reportedAt });
    render();
  });
  void load().catch((error: unknown) => {
    if (closed || root.dataset.state === 'ready') return;
    root.dataset.state = 'error';
    fill(root, h('p', { id: configIds.loadError, class: 'alert error', role: 'alert' }, `The configuration could not be loaded: ${messageOf(error)}`));
  });

  return () => {
    closed = true;
    stopLive();
  };
}
