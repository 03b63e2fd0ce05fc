/**
 * The registry: every function of the platform, in one list. The gateway, the functions-framework entry,
 * the OpenAPI document and every deploy artefact are derived from it; adding a function here adds it
 * everywhere.
 */
import type { PlatformFunction } from '../shared/function.ts';
import register from './signing/register.ts';
import login from './signing/login.ts';
import refresh from './signing/refresh.ts';
import logout from './signing/logout.ts';
import me from './signing/me.ts';
import jwks from './signing/jwks.ts';

export const functions: readonly PlatformFunction[] = [register, login, refresh, logout, me, jwks];

export function functionNamed(name: string): PlatformFunction | undefined {
  return functions.find((fn) => fn.name === name);
}
