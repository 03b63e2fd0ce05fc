/**
 * The dashboard's entry: the app shell (header, connection state, toast) and a hash router, since the
 * gateway serves this page at `/` only and every other path belongs to the API.
 *
 *   #/login  #/register  #/devices  #/devices/<id>
 *
 * Each view renders into `#view` and returns the function that undoes it (socket listeners, timers,
 * charts); the router calls it before the next view renders.
 */
import { Api } from './api.ts';
import { renderLogin, renderRegister } from './auth-view.ts';
import { renderDevice } from './device-view.ts';
import { renderDevices } from './devices-view.ts';
import { byId } from './dom.ts';
import { ids } from './ids.ts';
import { startRelativeClock } from './relative-time.ts';
import { loadSession } from './session.ts';
import { LiveConnection, type ConnectionState } from './socket.ts';

/** What a signed-in view gets. */
export interface AppContext {
  api: Api;
  live: LiveConnection;
  navigate(hash: string): void;
  notify(message: string, tone?: 'info' | 'error'): void;
}

const api = new Api();
let live: LiveConnection | undefined;
let stopConnectionState = () => {};
let leaveView = () => {};
/** Shown once on the sign-in page: why the user is there. */
let authNotice: string | undefined;
let authEmail: string | undefined;

function navigate(hash: string): void {
  if (location.hash === hash) route();
  else location.hash = hash;
}

let toastTimer: ReturnType<typeof setTimeout> | undefined;
function notify(message: string, tone: 'info' | 'error' = 'info'): void {
  const toast = byId(ids.toast);
  toast.textContent = message;
  toast.dataset.tone = tone;
  toast.classList.add('visible');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toast.classList.remove('visible'), 4000);
}

const connectionLabels: Record<ConnectionState, string> = { connecting: 'Connecting…', connected: 'Live', disconnected: 'Offline' };

function showConnection(state: ConnectionState): void {
  const element = byId(ids.connectionState);
  element.dataset.state = state;
  const label = element.querySelector('.connection-label');
  if (label) label.textContent = connectionLabels[state];
  element.title = state === 'connected' ? 'Live updates are on' : state === 'connecting' ? 'Connecting for live updates' : 'Live updates are off';
}

function signedIn(): AppContext {
  if (!live) {
    live = new LiveConnection(api);
    stopConnectionState = live.onState(showConnection);
  }
  const header = byId(ids.header);
  header.hidden = false;
  byId(ids.userEmail).textContent = loadSession()?.email ?? '';
  return { api, live, navigate, notify };
}

function signedOut(): void {
  stopConnectionState();
  live?.close();
  live = undefined;
  byId(ids.header).hidden = true;
}

function route(): void {
  leaveView();
  leaveView = () => {};
  const root = byId(ids.view);
  const [first = '', second] = location.hash.replace(/^#\/?/, '').split('/');
  const authPage = first === 'login' || first === 'register';

  if (!loadSession()) {
    signedOut();
    if (!authPage) {
      navigate('#/login');
      return;
    }
    const context = {
      api,
      navigate,
      notice: authNotice,
      email: authEmail,
      registered(email: string) {
        authNotice = 'Your account is ready. Sign in to continue.';
        authEmail = email;
        navigate('#/login');
      },
    };
    authNotice = undefined;
    authEmail = undefined;
    leaveView = first === 'register' ? renderRegister(root, context) : renderLogin(root, context);
    return;
  }

  if (authPage || first !== 'devices') {
    navigate('#/devices');
    return;
  }
  const app = signedIn();
  byId(ids.navDevices).setAttribute('aria-current', second ? 'false' : 'page');
  leaveView = second ? renderDevice(root, app, decodeURIComponent(second)) : renderDevices(root, app);
  root.focus({ preventScroll: true });
}

api.onSignedOut = (email) => {
  authNotice = 'Your session has ended. Sign in again.';
  authEmail = email;
  navigate('#/login');
};

byId(ids.logoutButton).addEventListener('click', async () => {
  try {
    await api.logout();
  } catch {
    // The session is gone locally either way; a failed call only leaves it to expire on the server.
  }
  authNotice = 'You are signed out.';
  navigate('#/login');
});

addEventListener('hashchange', route);
startRelativeClock();
route();
