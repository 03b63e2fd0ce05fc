/**
 * The client's address for rate limits and logs. X-Forwarded-For is trusted only when TRUST_PROXY says a
 * proxy we run (NGINX, the Knative ingress) sets it; otherwise any client could pick its own address.
 */
import type { IncomingMessage } from 'node:http';

export function clientAddress(request: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers['x-forwarded-for'];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return request.socket.remoteAddress ?? 'unknown';
}
