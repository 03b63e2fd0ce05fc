/**
 * Socket.IO clients of the realtime relay (realtime/relay.ts), as a browser would be, for the monitoring bench:
 *
 *   const socket = await connectRelay(url, token);               // authenticated, websocket transport
 *   await subscribe(socket, [deviceId]);                          // fails unless the relay accepted them all
 *   const sockets = await connectMany(url, token, 1_000, 100);    // in batches of 100, bounded
 *   closeAll(sockets);
 *
 * Every client is its own connection (`forceNew`): socket.io-client otherwise multiplexes every socket to one
 * URL over one engine connection, and 1,000 "clients" would cost the relay one WebSocket. None reconnects, so a
 * socket the relay drops shows as dropped instead of coming back unnoticed.
 */
import { readFile } from 'node:fs/promises';
import { io, type Socket } from 'socket.io-client';

const CONNECT_TIMEOUT_MS = 10_000;

export function connectRelay(url: string, token: string): Promise<Socket> {
  if (new URL(url).hostname !== '127.0.0.1') return Promise.reject(new Error(`refusing to connect to ${url}: only 127.0.0.1 is a target`));
  const socket = io(url, {
    path: '/socket.io',
    auth: { token },
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    timeout: CONNECT_TIMEOUT_MS,
  });
  return new Promise((resolve, reject) => {
    // Covers a handshake that never answers at all; `timeout` above covers the engine's own connect.
    const timer = setTimeout(() => fail(new Error(`no connection within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS + 1_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.close();
      reject(error);
    };
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('connect_error', (error: Error) => fail(new Error(`relay refused the connection: ${error.message}`)));
  });
}

export async function subscribe(socket: Socket, deviceIds: string[]): Promise<void> {
  const answer = (await socket.timeout(5_000).emitWithAck('subscribe', { deviceIds })) as { accepted?: string[]; refused?: string[]; error?: string };
  const accepted = new Set(answer.accepted ?? []);
  const missing = deviceIds.filter((id) => !accepted.has(id.toLowerCase()));
  if (missing.length > 0) throw new Error(`relay did not accept ${missing.join(', ')}: ${JSON.stringify(answer)}`);
}

/** Connects `count` clients, `batch` at a time; fails (closing what it opened) when any of them cannot connect. */
export async function connectMany(url: string, token: string, count: number, batch: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  try {
    for (let start = 0; start < count; start += batch) {
      const size = Math.min(batch, count - start);
      const settled = await Promise.allSettled(Array.from({ length: size }, () => connectRelay(url, token)));
      for (const outcome of settled) if (outcome.status === 'fulfilled') sockets.push(outcome.value);
      const failure = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      if (failure) throw new Error(`client ${sockets.length + 1} of ${count}: ${(failure.reason as Error).message}`);
    }
    return sockets;
  } catch (error) {
    closeAll(sockets);
    throw error;
  }
}

export function closeAll(sockets: readonly Socket[]): void {
  for (const socket of sockets) socket.close();
}

/** Resident memory of a process in bytes, from /proc (Linux): what the kernel holds for it, heap and all. */
export async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}
