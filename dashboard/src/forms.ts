/**
 * Form building blocks shared by the sign-in pages and the device dialog: a labelled field with a hint and
 * a slot for its error (`#<input id>-error`, tied to the input by aria-describedby), and the code that
 * spreads a problem+json answer over them, in plain words that name the field (field-errors.ts).
 *
 * A required field is marked in its label (`.required`, a star a screen reader skips: the input's own
 * `required` attribute already says it) and carries `required`; forms keep `novalidate`, so the message a
 * reader sees is ours in every browser.
 */
import { ApiError, messageOf } from './api.ts';
import { h } from './dom.ts';
import { labelOfPath, plainFieldError } from './field-errors.ts';

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
  input.dataset.label = options.label;
  if (options.required) input.required = true;
  if (options.value !== undefined) input.value = options.value;
  const described = [options.hint ? `${options.id}-hint` : '', `${options.id}-error`].filter(Boolean).join(' ');
  input.setAttribute('aria-describedby', described);
  return h(
    'div',
    { class: 'field' },
    h(
      'label',
      { for: options.id },
      options.label,
      options.required ? h('span', { class: 'required', title: 'required', 'aria-hidden': 'true' }, ' *') : h('span', { class: 'optional' }, ' (optional)'),
    ),
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
 * Shows each field error under its field, as a sentence naming it, and above the form what went wrong: the
 * one field's sentence, a pointer to the fields marked below, or (for errors no field shows, and problems
 * without field errors) the sentences or the problem's detail. The validator's wording and the API's paths
 * (`body.type`) never reach the reader.
 */
export function showErrors(form: HTMLFormElement, formError: HTMLElement, error: unknown): void {
  clearErrors(form, formError);
  formError.textContent = messageOf(error);
  formError.hidden = false;
  if (!(error instanceof ApiError)) return;
  const fields = error.fieldErrors();
  let first: HTMLElement | undefined;
  const placed: string[] = [];
  const unplaced: string[] = [];
  for (const [name, message] of fields) {
    // Paths name array items too (`tags.0`): the field is the first segment.
    const input = form.elements.namedItem(name.split('.')[0] ?? name);
    const slot = input instanceof HTMLElement ? form.querySelector<HTMLElement>(`#${CSS.escape(input.id)}-error`) : null;
    if (!(input instanceof HTMLInputElement || input instanceof HTMLSelectElement || input instanceof HTMLTextAreaElement) || !slot) {
      unplaced.push(plainFieldError(labelOfPath(name), message));
      continue;
    }
    const sentence = plainFieldError(input.dataset.label ?? labelOfPath(name), message);
    slot.textContent = slot.textContent ? `${slot.textContent} ${sentence}` : sentence;
    slot.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    first ??= input;
    placed.push(sentence);
  }
  if (unplaced.length) formError.textContent = unplaced.join(' ');
  else if (placed.length === 1) formError.textContent = placed[0]!;
  else if (placed.length > 1) formError.textContent = `Check the ${placed.length} fields marked below.`;
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
