/**
 * Form building blocks shared by the sign-in pages and the device dialog: a labelled field with a hint and
 * a slot for its error (`#<input id>-error`, tied to the input by aria-describedby), and the code that
 * spreads a problem+json answer over them.
 */
import { ApiError, messageOf } from './api.ts';
import { h } from './dom.ts';

interface FieldOptions {
  id: string;
  label: string;
  /** The name the API uses for this field in problem `errors` paths (`body.<name>`). */
  name: string;
  type?: string;
  required?: boolean;
  autocomplete?: string;
  hint?: string;
  value?: string;
  placeholder?: string;
  minlength?: number;
  maxlength?: number;
}

export function field(options: FieldOptions, control?: HTMLInputElement | HTMLSelectElement): HTMLElement {
  const input =
    control ??
    h('input', {
      type: options.type ?? 'text',
      required: options.required ?? false,
      autocomplete: options.autocomplete,
      placeholder: options.placeholder,
      minlength: options.minlength,
      maxlength: options.maxlength,
    });
  input.id = options.id;
  input.name = options.name;
  if (options.value !== undefined) input.value = options.value;
  const described = [options.hint ? `${options.id}-hint` : '', `${options.id}-error`].filter(Boolean).join(' ');
  input.setAttribute('aria-describedby', described);
  return h(
    'div',
    { class: 'field' },
    h('label', { for: options.id }, options.label, options.required ? null : h('span', { class: 'optional' }, ' (optional)')),
    input,
    options.hint ? h('p', { class: 'hint', id: `${options.id}-hint` }, options.hint) : null,
    h('p', { class: 'field-error', id: `${options.id}-error`, hidden: true }),
  );
}

/** Clears every field error and the form-level message. */
export function clearErrors(form: HTMLFormElement, formError: HTMLElement): void {
  for (const slot of form.querySelectorAll<HTMLElement>('.field-error')) {
    slot.textContent = '';
    slot.hidden = true;
  }
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  formError.textContent = '';
  formError.hidden = true;
}

/**
 * Shows each field error under its field and the problem's detail above the form. When every error found
 * its field, the detail (which lists them all again, with their paths) gives way to a short pointer.
 */
export function showErrors(form: HTMLFormElement, formError: HTMLElement, error: unknown): void {
  clearErrors(form, formError);
  formError.textContent = messageOf(error);
  formError.hidden = false;
  if (!(error instanceof ApiError)) return;
  const fields = error.fieldErrors();
  let first: HTMLElement | undefined;
  let placed = 0;
  for (const [name, message] of fields) {
    // Paths name array items too (`tags.0`): the field is the first segment.
    const input = form.elements.namedItem(name.split('.')[0] ?? name);
    if (!(input instanceof HTMLInputElement || input instanceof HTMLSelectElement)) continue;
    const slot = form.querySelector<HTMLElement>(`#${CSS.escape(input.id)}-error`);
    if (!slot) continue;
    slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
    slot.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    first ??= input;
    placed += 1;
  }
  if (placed > 0 && placed === fields.size) formError.textContent = placed === 1 ? 'Check the field marked below.' : 'Check the fields marked below.';
  first?.focus();
}

/** Disables a form's submit button while `work` runs, labelled with what is happening. */
export async function busy<T>(button: HTMLButtonElement, label: string, work: () => Promise<T>): Promise<T> {
  const idle = button.textContent;
  button.disabled = true;
  button.textContent = label;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.textContent = idle;
    button.removeAttribute('aria-busy');
  }
}
