/**
 * Binds a server to its configured port and address, and says what to do when it cannot: a taken port or a
 * bad address is one ConfigError naming the variable, not Node's bare `EADDRINUSE` or `ENOTFOUND`.
 *
 *   await listenOn(server, { port: config.PORT, host: config.HOST });                        // PORT / HOST
 *   await listenOn(server, { port: config.METRICS_PORT, host, portVariable: 'METRICS_PORT' });
 */
import type { Server } from 'node:net';
import { ConfigError } from '../config.ts';

export interface ListenOptions {
  port: number;
  host: string;
  portVariable?: string;
}

export function listenOn(server: Server, { port, host, portVariable = 'PORT' }: ListenOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => reject(whyNotListening(error, { port, host, portVariable }));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

export function whyNotListening(error: NodeJS.ErrnoException, { port, host, portVariable = 'PORT' }: ListenOptions): Error {
  switch (error.code) {
    case 'EADDRINUSE':
      return new ConfigError(`${portVariable}: port ${port} on ${host} is taken by another process; stop it, or set ${portVariable} to a free port (0 takes any)`, { cause: error });
    case 'EACCES':
      return new ConfigError(`${portVariable}: port ${port} needs privileges this process does not have; set ${portVariable} above 1023`, { cause: error });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EADDRNOTAVAIL':
      return new ConfigError(`HOST: ${host} is not an address of this machine; set HOST to 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)`, { cause: error });
    default:
      return error;
  }
}

/** How a URL names the address a server listens on: a wildcard is reached as localhost, IPv6 in brackets. */
export function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
