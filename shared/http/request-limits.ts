/**
 * The limits on a request's head, answered as problem+json like every other refusal:
 *
 *   431 headers-too-large   the request head is over Node's --max-http-header-size (16 KiB by default)
 *   414 uri-too-long        the URL is over `maxUrlBytes` (8 KiB)
 *   400 malformed-request   anything else Node's parser refuses; 408 request-timeout when the head is too slow
 *
 *   guardRequestLimits(createServer(handler));   // the gateway, and each functions-framework server
 *
 * A head over Node's limit never becomes a request: the parser fails and the server emits `clientError` with
 * the raw socket, so the answer is written there as a whole HTTP/1.1 response and the connection is closed.
 */
import { STATUS_CODES, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Problem, problemContentType } from '../problem.ts';
import { apiSecurityHeaders } from './security-headers.ts';

/** The longest URL (path and query) answered; a longer one gets 414. */
export const maxUrlBytes = 8 * 1024;

interface ParserError extends Error {
  code?: string;
  /** The bytes the parser was reading when it failed (Node's documented `clientError` properties). */
  rawPacket?: Buffer;
  bytesParsed?: number;
}

/**
 * Answers `clientError` with problem+json, and 414 for a URL under Node's head limit but over `maxUrlBytes`.
 * The request listeners already on `server` run behind the URL check; ones added later (Socket.IO) wrap it.
 */
export function guardRequestLimits(server: Server): Server {
  server.on('clientError', answerClientError);
  const listeners = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if ((request.url ?? '').length > maxUrlBytes) {
      const body = JSON.stringify(uriTooLong().toDocument());
      const headers = { ...apiSecurityHeaders, 'content-type': problemContentType, 'content-length': String(Buffer.byteLength(body)), connection: 'close' };
      response.writeHead(414, headers).end(body);
      return;
    }
    for (const listener of listeners) listener.call(server, request, response);
  });
  return server;
}

function answerClientError(error: ParserError, socket: Duplex): void {
  // A response already being written on this connection (pipelining) cannot be followed by another one.
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const problem = refusal(error);
  const body = JSON.stringify(problem.toDocument());
  const head = [
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}`,
    `content-type: ${problemContentType}`,
    `content-length: ${Buffer.byteLength(body)}`,
    ...Object.entries(apiSecurityHeaders).map(([name, value]) => `${name}: ${value}`),
    'connection: close',
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
}

const uriTooLong = () => new Problem('uri-too-long', `The URL is longer than ${maxUrlBytes} bytes`);

function refusal(error: ParserError): Problem {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return urlOverflowed(error) ? uriTooLong() : new Problem('headers-too-large', 'The request line and headers are larger than this server accepts');
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new Problem('request-timeout', 'The request head did not arrive in time');
  return new Problem('malformed-request', `The request could not be parsed${error.code ? ` (${error.code})` : ''}`);
}

/**
 * Whether the head overflowed in its request line: the failing request starts after the last blank line of the
 * packet (earlier pipelined requests) and its first line runs past `maxUrlBytes`. When the request line began in
 * an earlier packet it cannot be seen, and the answer is the general 431: the head is too large either way.
 */
function urlOverflowed(error: ParserError): boolean {
  const packet = error.rawPacket?.subarray(0, error.bytesParsed ?? error.rawPacket.length);
  if (!packet) return false;
  const previous = packet.lastIndexOf('\r\n\r\n');
  const start = previous === -1 ? 0 : previous + 4;
  if (!/^[A-Z]+ /.test(packet.subarray(start, start + 16).toString('latin1'))) return false;
  const lineEnd = packet.indexOf('\r\n', start);
  return (lineEnd === -1 ? packet.length : lineEnd) - start > maxUrlBytes;
}
