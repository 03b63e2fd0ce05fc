/**
 * One socket write per round of amqplib's frame multiplexer instead of one per frame.
 *
 * amqplib queues every frame (a publish, an ack, a confirm channel's method) in its channel's buffer and a Mux
 * copies them to the socket on the next setImmediate, but it writes them one `socket.write` at a time: on an
 * uncorked socket each is its own syscall. Under load that was the gateway's single largest cost (a CPU profile
 * of `monitoring.e2e.http`: 576 ms of 9.2 s in those writes, ~70 µs each on loopback, where the kernel also runs
 * the receiving side). Corking the socket for the length of one round turns the round's frames, say the acks of
 * a whole ingest batch and the publishes of every request served in that turn, into one `writev`.
 *
 * The Mux is amqplib's internal (lib/mux.js, `connection.muxer._readIncoming`, unchanged from 0.5 to 2.x); if a
 * release moves it, `coalesceFrameWrites` returns false, writes go frame by frame again, and the bus's test of
 * this hook fails, rather than the platform silently slowing down.
 */
import type { Writable } from 'node:stream';
import type { ChannelModel } from 'amqplib';

interface Muxer {
  out: Writable;
  _readIncoming(): void;
}

const coalesced = new WeakSet<Muxer>();

/** Makes the connection's frame writes one write per round; true when amqplib had the Mux this expects. */
export function coalesceFrameWrites(model: ChannelModel): boolean {
  const muxer = (model as unknown as { connection?: { muxer?: Partial<Muxer> } }).connection?.muxer;
  if (!muxer || typeof muxer._readIncoming !== 'function' || typeof muxer.out?.cork !== 'function') return false;
  const mux = muxer as Muxer;
  if (coalesced.has(mux)) return true;
  const readIncoming = mux._readIncoming.bind(mux);
  mux._readIncoming = () => {
    // Uncorking at the end writes what the round queued in one writev; write()'s return value still reports a
    // full socket buffer while corked, so the Mux's own back-pressure is unchanged.
    mux.out.cork();
    try {
      readIncoming();
    } finally {
      mux.out.uncork();
    }
  };
  coalesced.add(mux);
  return true;
}
