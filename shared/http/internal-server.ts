/**
 * The internal endpoints of a process, on a port of their own (METRICS_PORT) beside the public one: `/metrics`
 * for Prometheus and the detailed `/readyz` for whoever operates the platform (see probes.ts). Every process
 * starts one: the gateway of `npm start`, each functions-framework process, the relay, the bridge, the triggers.
 *
 *   const internal = await startInternalServer(deps);   // deps.config.METRICS_PORT on deps.config.HOST
 *   console.log(`metrics on ${internal.url}/metrics`);
 *
 * In a cluster or in Compose only Prometheus is meant to reach this port: it is never routed by an ingress or
 * NGINX, nor published to the host.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Deps } from '../platform.ts';
import { listenOn, urlHost } from './listen.ts';
import { Problem } from '../problem.ts';
import { problemReply, requestIdOf, type OutgoingReply } from './harness.ts';
import { internalReply } from './probes.ts';

export interface InternalServer {
  port: number;
  /** `http://localhost:<port>` when bound to every address, else `http://<host>:<port>`. */
  url: string;
  close(): Promise<void>;
}

type InternalDeps = Pick<Deps, 'db' | 'cache' | 'bus' | 'telemetry' | 'log' | 'config'>;

export async function startInternalServer(deps: InternalDeps, options: { port?: number; host?: string } = {}): Promise<InternalServer> {
  const port = options.port ?? deps.config.METRICS_PORT;
  const host = options.host ?? deps.config.HOST;
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const send = (reply: OutgoingReply) => response.writeHead(reply.status, reply.headers).end(reply.body);
    const problem = (p: Problem) => send(problemReply(p, requestIdOf(request.headers), path));
    internalReply(request.method, path, deps).then(
      (reply) => (reply ? send(reply) : problem(new Problem('not-found', `The internal port serves GET /metrics, /readyz and /healthz, not ${request.method} ${path}`))),
      (error: unknown) => {
        deps.log.error({ err: error, path }, 'internal endpoint failed');
        problem(new Problem('internal', 'The internal endpoint failed', { cause: error }));
      },
    );
  });
  // The one line a second process on the same machine would otherwise die with names the variable.
  await listenOn(server, { port, host, portVariable: 'METRICS_PORT' });
  const bound = (server.address() as AddressInfo).port;
  const shown = urlHost(host);
  return {
    port: bound,
    url: `http://${shown}:${bound}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
