/** The small status marks shared by the device list and the device page. */
import { h } from './dom.ts';
import { testIds } from './ids.ts';
import type { DeviceStatus } from './types.ts';

export function onlineBadge(online: boolean): HTMLElement {
  return h(
    'span',
    { class: `badge ${online ? 'online' : 'offline'}`, 'data-testid': testIds.onlineBadge, 'data-online': String(online) },
    h('span', { class: 'dot', 'aria-hidden': 'true' }),
    online ? 'Online' : 'Offline',
  );
}

export function statusPill(status: DeviceStatus): HTMLElement {
  return h('span', { class: `pill ${status}` }, status === 'active' ? 'Active' : 'Disabled');
}

export function tagList(tags: readonly string[]): HTMLElement | null {
  if (!tags.length) return null;
  return h('ul', { class: 'tags', 'aria-label': 'Tags' }, ...tags.map((tag) => h('li', { class: 'tag' }, tag)));
}
