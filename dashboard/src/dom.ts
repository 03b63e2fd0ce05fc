/**
 * A few DOM helpers so views build elements from data without innerHTML (device names, tags and telemetry
 * strings come from users and devices, so they are only ever set as text), and the formatting they share.
 */

type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | null | undefined | EventListener>;

/**
 * `h('button', { class: 'primary', onclick: save }, 'Save')`. Attributes named `on…` become listeners;
 * `true` sets an empty attribute and `false`, `null` or `undefined` leave it out.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else if (value !== false && value !== null && value !== undefined) element.setAttribute(name, String(value));
  }
  append(element, ...children);
  return element;
}

export function append(parent: Element, ...children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces an element's children. */
export function fill(parent: Element, ...children: (Child | Child[])[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** Finds a required element, failing loudly when the markup and the code disagree. */
export function byId<T extends HTMLElement = HTMLElement>(id: string, root: ParentNode = document): T {
  const element = root.querySelector<T>(`#${CSS.escape(id)}`);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const steps: [Intl.RelativeTimeFormatUnit, number][] = [
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', 30],
  ['month', 12],
  ['year', Infinity],
];

/** "3 minutes ago", "yesterday". */
export function timeAgo(when: string | number | Date, now = Date.now()): string {
  let amount = (new Date(when).getTime() - now) / 1000;
  for (const [unit, size] of steps) {
    if (Math.abs(amount) < size) return relative.format(Math.round(amount), unit);
    amount /= size;
  }
  return new Date(when).toLocaleString();
}

export function dateTime(when: string | number | Date): string {
  return new Date(when).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 6 });

/** A telemetry value as text: numbers without float noise, the rest as they are. */
export function formatValue(value: number | boolean | string): string {
  return typeof value === 'number' ? numberFormat.format(value) : String(value);
}

/** An element that says the app is busy, for areas that load. */
export function loading(label: string): HTMLElement {
  return h('p', { class: 'muted loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), label);
}

/** A picker with its options, one of them selected. */
export function select(id: string, options: { value: string; label: string }[], selected: string): HTMLSelectElement {
  const element = h('select', { id }, ...options.map((o) => h('option', { value: o.value }, o.label)));
  element.value = selected;
  return element;
}

/** A control with its label beside it. */
export function labelled(label: string, control: HTMLSelectElement): HTMLElement {
  return h('div', { class: 'field inline' }, h('label', { for: control.id }, label), control);
}
