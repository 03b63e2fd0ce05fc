/**
 * The modal dialogs: add or edit a device, confirm a destructive action, and show a device token — the one
 * time it can be read, since the platform keeps only its hash. Each is a native <dialog> (focus trap,
 * Escape and the backdrop come with it) made when opened and removed when closed.
 */
import { h } from './dom.ts';
import { busy, clearErrors, field, showErrors } from './forms.ts';
import { ids } from './ids.ts';
import type { Device, DeviceStatus } from './types.ts';

function openDialog(id: string, labelledBy: string, ...content: HTMLElement[]): HTMLDialogElement {
  const dialog = h('dialog', { id, class: 'dialog', 'aria-labelledby': labelledBy }, ...content);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

export interface DeviceFields {
  name: string;
  type: string;
  tags: string[];
  status?: DeviceStatus;
}

/**
 * Add a device (no `device`) or edit one. `save` runs on submit; its error is shown in the dialog, which
 * stays open. Resolves with what `save` returned, or undefined when cancelled.
 */
export function deviceDialog<T>(options: { device?: Device; save(fields: DeviceFields): Promise<T> }): Promise<T | undefined> {
  const { device } = options;
  const heading = 'device-dialog-heading';
  const status = h('select', {}, h('option', { value: 'active' }, 'Active'), h('option', { value: 'disabled' }, 'Disabled — its telemetry is refused'));
  const error = h('p', { id: ids.deviceFormError, class: 'alert error', role: 'alert', hidden: true });
  const submit = h('button', { id: ids.deviceFormSubmit, type: 'submit', class: 'primary' }, device ? 'Save changes' : 'Add device');
  const cancel = h('button', { id: ids.deviceFormCancel, type: 'button', class: 'ghost' }, 'Cancel');
  const form = h(
    'form',
    { id: ids.deviceForm, novalidate: true, method: 'dialog' },
    h('h2', { id: heading }, device ? `Edit ${device.name}` : 'Add a device'),
    h('p', { class: 'muted small' }, 'Fields marked ', h('span', { class: 'required' }, '*'), ' are required.'),
    error,
    field({ id: ids.deviceFormName, name: 'name', label: 'Name', required: true, maxlength: 200, value: device?.name, placeholder: 'e.g. Greenhouse sensor' }),
    field({ id: ids.deviceFormType, name: 'type', label: 'Type', required: true, maxlength: 100, value: device?.type, placeholder: 'e.g. thermometer', hint: 'What kind of device it is; devices of a type are counted together.' }),
    field({ id: ids.deviceFormTags, name: 'tags', label: 'Tags', value: device?.tags.join(', '), placeholder: 'e.g. greenhouse, north', hint: 'Separate tags with commas.' }),
    device ? field({ id: ids.deviceFormStatus, name: 'status', label: 'Status', value: device.status, required: true }, status) : null,
    h('div', { class: 'dialog-actions' }, cancel, submit),
  );
  const dialog = openDialog(ids.deviceDialog, heading, form);

  return new Promise((resolve) => {
    let result: T | undefined;
    dialog.addEventListener('close', () => resolve(result));
    cancel.addEventListener('click', () => dialog.close());
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      clearErrors(form, error);
      const data = new FormData(form);
      const fields: DeviceFields = {
        name: String(data.get('name') ?? '').trim(),
        type: String(data.get('type') ?? '').trim(),
        tags: [...new Set(String(data.get('tags') ?? '').split(',').map((t) => t.trim()).filter(Boolean))],
      };
      if (device) fields.status = String(data.get('status')) as DeviceStatus;
      void busy(submit, device ? 'Saving…' : 'Adding…', async () => {
        try {
          result = await options.save(fields);
          dialog.close();
        } catch (failure) {
          showErrors(form, error, failure);
        }
      });
    });
  });
}

/** Asks before something that cannot be undone; resolves true when confirmed. */
export function confirmDialog(options: { title: string; message: string; confirm: string; danger?: boolean }): Promise<boolean> {
  const heading = 'confirm-dialog-heading';
  const ok = h('button', { id: ids.confirmOk, type: 'button', class: options.danger ? 'danger' : 'primary' }, options.confirm);
  const cancel = h('button', { id: ids.confirmCancel, type: 'button', class: 'ghost' }, 'Cancel');
  const dialog = openDialog(
    ids.confirmDialog,
    heading,
    h('h2', { id: heading }, options.title),
    h('p', {}, options.message),
    h('div', { class: 'dialog-actions' }, cancel, ok),
  );
  cancel.focus();
  return new Promise((resolve) => {
    let confirmed = false;
    dialog.addEventListener('close', () => resolve(confirmed));
    cancel.addEventListener('click', () => dialog.close());
    ok.addEventListener('click', () => {
      confirmed = true;
      dialog.close();
    });
  });
}

/** Shows a device token once, with a copy button and a curl line that sends telemetry with it. */
export function tokenDialog(options: { device: Device; token: string; rotated?: boolean }): Promise<void> {
  const heading = 'token-dialog-heading';
  const curl = `curl -X POST ${location.origin}/telemetry -H 'authorization: Device ${options.token}' -H 'content-type: application/json' -d '{"values":{"temperature":21.5}}'`;
  const done = h('button', { id: ids.tokenDialogClose, type: 'button', class: 'primary' }, 'I have saved it');
  const dialog = openDialog(
    ids.tokenDialog,
    heading,
    h('h2', { id: heading }, options.rotated ? `New token for ${options.device.name}` : `${options.device.name} is ready`),
    h(
      'p',
      { class: 'alert warning' },
      h('strong', {}, 'Copy this token now. '),
      'It is shown only once: the platform keeps only a hash of it. If you lose it, rotate the token to get a new one.',
      options.rotated ? ' The previous token no longer works.' : null,
    ),
    h('label', { class: 'label', for: ids.deviceToken }, 'Device token'),
    copyable(ids.deviceToken, ids.copyToken, options.token, 'Copy token'),
    h('label', { class: 'label', for: ids.tokenCurl }, 'Send a first value'),
    copyable(ids.tokenCurl, ids.copyCurl, curl, 'Copy command'),
    h('div', { class: 'dialog-actions' }, done),
  );
  // Escape would throw the token away by accident: closing is an explicit choice here.
  dialog.addEventListener('cancel', (event) => event.preventDefault());
  done.addEventListener('click', () => dialog.close());
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve()));
}

/** A read-only text box with a copy button beside it. */
function copyable(id: string, buttonId: string, text: string, label: string): HTMLElement {
  const box = h('output', { id, class: 'copyable-text', tabindex: 0 }, text);
  const button = h('button', { id: buttonId, type: 'button', class: 'secondary', 'aria-label': label }, 'Copy');
  button.addEventListener('click', () => {
    void copy(text, box).then((copied) => {
      button.textContent = copied ? 'Copied' : 'Select and copy';
      setTimeout(() => (button.textContent = 'Copy'), 2000);
    });
  });
  return h('div', { class: 'copyable' }, box, button);
}

async function copy(text: string, box: HTMLElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard permission (or not a secure context): select the text so the user can copy it.
    getSelection()?.selectAllChildren(box);
    return false;
  }
}
