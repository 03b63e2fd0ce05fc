/**
 * A Socket.IO client of the relay for a test: authenticated with the user's access token, websocket only,
 * never reconnecting, connected (bounded by its own timeout) before it is returned.
 */
import { io as connect, type Socket } from 'socket.io-client';

export async function relaySocket(base: string, accessToken: string, opened: Socket[]): Promise<Socket> {
  const socket = connect(base, { path: '/socket.io', auth: { token: accessToken }, transports: ['websocket'], reconnection: false, timeout: 5000 });
  opened.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}
