/**
 * The one HTTP writer: puts an `OutgoingReply` on a node:http response, for the gateway and the
 * functions-framework host alike, so both answer with the same headers and fail the same way.
 *
 *   writeReply(response, await runHttpFunction(fn, call, deps), deps.log);
 *
 * Every reply carries the API security headers; a page route sets its stricter ones on the response first and
 * they stay. A reply Node refuses to write (a status out of range, a header value with a line break) becomes a
 * problem+json 500 instead of an exception thrown into the host, and once the head is out nothing more can be
 * said, so the connection is ended: the client sees a failure, never a truncated success. A HEAD request needs
 * nothing here: Node itself writes no body for one.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';
import { Problem } from '../problem.ts';
import { problemReply, requestIdOf, type OutgoingReply } from './harness.ts';
import { apiSecurityHeaders } from './security-headers.ts';

export function writeReply(response: ServerResponse, reply: OutgoingReply, log?: Pick<Logger, 'error'>): void {
  if (response.headersSent) {
    log?.error({ status: reply.status }, 'a reply came after the head was written; connection ended');
    response.destroy();
    return;
  }
  try {
    if (reply.body !== undefined && typeof reply.body !== 'string' && !Buffer.isBuffer(reply.body)) {
      throw new TypeError(`a reply body must be a string or a Buffer, not ${typeof reply.body}`);
    }
    // Given the length, Node sends the body as it is rather than chunked (writeHead fixes the head first).
    const length = reply.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(reply.body)) };
    response.writeHead(reply.status, { ...apiSecurityHeaders, ...length, ...reply.headers });
  } catch (error) {
    log?.error({ err: error, status: reply.status }, 'a reply could not be written; answered 500');
    writeFallback(response, reply);
    return;
  }
  response.end(reply.body);
}

/** The 500 of a reply that could not be written, under the request id the failed reply carried. */
function writeFallback(response: ServerResponse, failed: OutgoingReply): void {
  // writeHead may have set some of the failed reply's headers before it threw: none of them describe the 500.
  for (const name of Object.keys(failed.headers)) response.removeHeader(name);
  const requestId = requestIdOf({ 'x-request-id': failed.headers['x-request-id'] });
  const path = response.req?.url?.split('?')[0];
  const reply = problemReply(new Problem('internal', 'The reply could not be written; it has been logged.'), requestId, path);
  try {
    response.writeHead(reply.status, { ...reply.headers, 'content-length': String(Buffer.byteLength(reply.body ?? '')) });
    response.end(reply.body);
  } catch {
    // Nothing sane can be written any more.
    response.destroy();
  }
}
