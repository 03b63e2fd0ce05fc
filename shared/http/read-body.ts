/**
 * Reads a request body into memory, refusing more than `limit` bytes as soon as it is exceeded (413)
 * instead of buffering whatever a client sends.
 */
import type { IncomingMessage } from 'node:http';
import { Problem } from '../problem.ts';

export async function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(request.headers['content-length'] ?? NaN);
  if (limit === 0) {
    // The function takes no body: drain it so the connection can be reused, without keeping it.
    request.resume();
    return undefined;
  }
  if (declared > limit) {
    request.resume();
    throw new Problem('payload-too-large', `The body of ${declared} bytes exceeds the limit of ${limit}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  // destroyOnReturn: false keeps the socket open when we stop early, so the 413 can still be sent.
  for await (const chunk of request.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      request.resume();
      throw new Problem('payload-too-large', `The body exceeds the limit of ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return size === 0 ? undefined : Buffer.concat(chunks, size);
}
