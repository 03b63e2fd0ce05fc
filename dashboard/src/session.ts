/**
 * The signed-in session: the token pair in sessionStorage, so a reload keeps the user signed in but closing
 * the tab (or another tab) does not share it.
 */
import type { TokenPair } from './types.ts';

const key = 'iotfn.session';

export interface Session {
  accessToken: string;
  refreshToken: string;
  email?: string;
}

export function loadSession(): Session | undefined {
  try {
    const parsed: unknown = JSON.parse(sessionStorage.getItem(key) ?? 'null');
    if (parsed && typeof parsed === 'object' && 'accessToken' in parsed && 'refreshToken' in parsed) return parsed as Session;
  } catch {
    // a damaged entry is the same as none
  }
  return undefined;
}

export function saveSession(pair: Pick<TokenPair, 'accessToken' | 'refreshToken'>, email?: string): Session {
  const session: Session = { accessToken: pair.accessToken, refreshToken: pair.refreshToken, email: email ?? loadSession()?.email };
  sessionStorage.setItem(key, JSON.stringify(session));
  return session;
}

export function clearSession(): void {
  sessionStorage.removeItem(key);
}
