/** The sign-in and register pages: one card each, with the platform's field errors under the fields. */
import type { Api } from './api.ts';
import { h } from './dom.ts';
import { busy, clearErrors, field, showErrors } from './forms.ts';
import { ids } from './ids.ts';

export interface AuthContext {
  api: Api;
  navigate(hash: string): void;
  /** A message for the sign-in page, say after registering or when the session ended. */
  notice?: string;
  /** The email to start the form with. */
  email?: string;
  /** Told where to go once the user registered (the sign-in page, with a notice). */
  registered(email: string): void;
}

export function renderLogin(root: HTMLElement, context: AuthContext): () => void {
  const email = field({ id: ids.loginEmail, name: 'email', label: 'Email', type: 'email', required: true, autocomplete: 'username', value: context.email });
  const password = field({ id: ids.loginPassword, name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'current-password' });
  const submit = h('button', { id: ids.loginSubmit, type: 'submit', class: 'primary wide' }, 'Sign in');
  const error = h('p', { id: ids.loginError, class: 'alert error', role: 'alert', hidden: true });
  const form = h('form', { id: ids.loginForm, novalidate: true, 'aria-labelledby': 'login-heading' }, error, email, password, submit);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearErrors(form, error);
    const data = new FormData(form);
    void busy(submit, 'Signing in…', async () => {
      try {
        await context.api.login(String(data.get('email')), String(data.get('password')));
        context.navigate('#/devices');
      } catch (failure) {
        showErrors(form, error, failure);
      }
    });
  });

  root.replaceChildren(
    card(
      'login-heading',
      'Sign in',
      'Monitor and manage your devices.',
      context.notice ? h('p', { id: ids.authNotice, class: 'alert info', role: 'status' }, context.notice) : null,
      form,
      h('p', { class: 'switch' }, 'New here? ', h('a', { id: ids.goRegister, href: '#/register' }, 'Create an account')),
    ),
  );
  focusFirstEmpty(form);
  return () => {};
}

export function renderRegister(root: HTMLElement, context: AuthContext): () => void {
  const email = field({ id: ids.registerEmail, name: 'email', label: 'Email', type: 'email', required: true, autocomplete: 'username' });
  const password = field({
    id: ids.registerPassword,
    name: 'password',
    label: 'Password',
    type: 'password',
    required: true,
    autocomplete: 'new-password',
    hint: '10 to 256 characters, not containing your email. A few random words work well.',
  });
  const name = field({ id: ids.registerName, name: 'name', label: 'Name', autocomplete: 'name' });
  const submit = h('button', { id: ids.registerSubmit, type: 'submit', class: 'primary wide' }, 'Create account');
  const error = h('p', { id: ids.registerError, class: 'alert error', role: 'alert', hidden: true });
  const form = h('form', { id: ids.registerForm, novalidate: true, 'aria-labelledby': 'register-heading' }, error, email, password, name, submit);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearErrors(form, error);
    const data = new FormData(form);
    const address = String(data.get('email'));
    void busy(submit, 'Creating account…', async () => {
      try {
        await context.api.register(address, String(data.get('password')), String(data.get('name') ?? '').trim());
        context.registered(address);
      } catch (failure) {
        showErrors(form, error, failure);
      }
    });
  });

  root.replaceChildren(
    card(
      'register-heading',
      'Create an account',
      'Register devices and watch their telemetry live.',
      form,
      h('p', { class: 'switch' }, 'Already have an account? ', h('a', { id: ids.goLogin, href: '#/login' }, 'Sign in')),
    ),
  );
  focusFirstEmpty(form);
  return () => {};
}

function card(headingId: string, title: string, lead: string, ...content: (HTMLElement | null)[]): HTMLElement {
  return h(
    'section',
    { class: 'auth' },
    h('div', { class: 'auth-brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'iotfn'),
    h('div', { class: 'card auth-card' }, h('h1', { id: headingId }, title), h('p', { class: 'muted lead' }, lead), ...content),
  );
}

function focusFirstEmpty(form: HTMLFormElement): void {
  const input = [...form.querySelectorAll('input')].find((i) => !i.value);
  input?.focus();
}
