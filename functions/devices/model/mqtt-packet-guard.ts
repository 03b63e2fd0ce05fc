/**
 * A guard that closes an MQTT connection as soon as a packet announces more bytes than allowed.
 *
 * aedes (through mqtt-packet) buffers a whole packet before parsing it, and has no size limit of its own:
 * a client announcing a 250 MB CONNECT makes the broker hold 250 MB before anyone has authenticated. The
 * announced size is in the packet's fixed header, so this guard reads only the fixed headers from the raw
 * bytes and destroys the socket the moment one is too big, in the same 'data' event that brought it.
 *
 * Fixed header: 1 byte (packet type in the high nibble) + the "remaining length", a variable-byte integer
 * of 1–4 bytes, 7 bits each, low group first, 0x80 meaning "another byte follows". The guard follows packet
 * boundaries across chunks by counting how many bytes of the current packet are left to skip; it never
 * copies or keeps a payload, so each connection costs a few numbers.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface PacketLimits {
  /** Largest remaining length accepted for a CONNECT (type 1); also subject to packetMaxBytes. */
  connectMaxBytes: number;
  /** Largest remaining length accepted for any packet. */
  packetMaxBytes: number;
}

const CONNECT = 1;
const typeNames = ['reserved', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP', 'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH'];

/** Watches the bytes arriving on `socket` and destroys it as soon as a packet's fixed header announces more than allowed. */
export function guardMqttPackets(socket: Socket | Duplex, limits: PacketLimits, onViolation?: (reason: string) => void): void {
  let skip = 0; // bytes of the current packet's body still to pass over
  let type = -1; // type of the packet whose remaining length is being read; -1 = next byte starts a packet
  let length = 0; // remaining length decoded so far
  let lengthBytes = 0; // remaining-length bytes read so far

  const violate = (reason: string) => {
    socket.removeListener('data', watch);
    socket.destroy();
    onViolation?.(reason);
  };

  const watch = (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - i);
        skip -= n;
        i += n;
      } else if (type < 0) {
        type = chunk[i++]! >> 4;
        length = 0;
        lengthBytes = 0;
      } else {
        const byte = chunk[i++]!;
        length += (byte & 0x7f) * 128 ** lengthBytes++;
        if (byte & 0x80) {
          if (lengthBytes === 4) return violate(`malformed remaining length in a ${typeNames[type]} header`);
          continue;
        }
        const max = type === CONNECT ? Math.min(limits.connectMaxBytes, limits.packetMaxBytes) : limits.packetMaxBytes;
        if (length > max) return violate(`${typeNames[type]} announces ${length} bytes, over the ${max}-byte limit`);
        skip = length;
        type = -1;
      }
    }
  };

  socket.on('data', watch);
}
