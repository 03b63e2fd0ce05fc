/**
 * The MQTT packet guard: a connection whose fixed header announces an oversized packet (or a malformed
 * remaining length) is destroyed in the chunk that brought the header, before another data listener (aedes)
 * can buffer more; ordinary traffic passes whatever the chunking. Driven with raw bytes over real sockets,
 * and end to end with an aedes broker and mosquitto_pub.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { guardMqttPackets, type PacketLimits } from '../functions/devices/model/mqtt-packet-guard.ts';
import { settleWithin, until } from './support/wait.ts';

const limits: PacketLimits = { connectMaxBytes: 1024, packetMaxBytes: 64 * 1024 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- MQTT packets by hand --------------------------------------------------------------------------------

function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return Buffer.from(bytes);
}

const header = (firstByte: number, length: number) => Buffer.concat([Buffer.from([firstByte]), remainingLength(length)]);
const packet = (firstByte: number, body: Buffer) => Buffer.concat([header(firstByte, body.length), body]);
const utf8 = (s: string) => Buffer.concat([Buffer.from([s.length >> 8, s.length & 0xff]), Buffer.from(s)]);

const connectPacket = (clientId: string) =>
  packet(0x10, Buffer.concat([utf8('MQTT'), Buffer.from([4, 0x02, 0, 60]), utf8(clientId)]));
const publishPacket = (topic: string, payload: Buffer) => packet(0x30, Buffer.concat([utf8(topic), payload]));
/** A QoS 0 PUBLISH on topic `t` whose remaining length is exactly `length`. */
const publishOfLength = (length: number) => publishPacket('t', Buffer.alloc(length - 3, 0x61));
const pingreq = Buffer.from([0xc0, 0x00]);
const disconnect = Buffer.from([0xe0, 0x00]);

/** Several ordinary packets, with 1-, 2- and 3-byte remaining lengths and empty bodies. */
const ordinaryStream = (bigPayload: number) =>
  Buffer.concat([
    connectPacket('guard-test'),
    publishPacket('devices/a/telemetry', Buffer.from('{"t":21.5}')),
    publishPacket('devices/a/telemetry', Buffer.alloc(300, 0x62)),
    pingreq,
    publishPacket('devices/a/telemetry', Buffer.alloc(bigPayload, 0x63)),
    pingreq,
    disconnect,
  ]);

// ---- a guarded server and raw clients ----------------------------------------------------------------------

interface Served {
  socket: Socket;
  /** Bytes and chunks seen by a second data listener attached after the guard, standing in for aedes. */
  received: number;
  chunks: number;
  violations: string[];
  closed: Promise<void>;
}

interface Client {
  socket: Socket;
  closed: Promise<void>;
}

let server: Server | undefined;
let port = 0;
let nextServed: ((served: Served) => void) | undefined;
const clients: Socket[] = [];

async function startGuardedServer() {
  server = createServer((socket) => {
    const served: Served = { socket, received: 0, chunks: 0, violations: [], closed: new Promise((resolve) => socket.once('close', () => resolve())) };
    socket.on('error', () => undefined);
    guardMqttPackets(socket, limits, (reason) => served.violations.push(reason));
    socket.on('data', (chunk: Buffer) => {
      served.received += chunk.length;
      served.chunks += 1;
    });
    nextServed?.(served);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
}

async function stopGuardedServer() {
  clients.forEach((c) => c.destroy());
  await settleWithin(new Promise<void>((resolve) => server?.close(() => resolve())), 2000);
}

/** A raw client connected to the guarded server, and the server's side of that connection. */
async function connectRaw(): Promise<{ client: Client; served: Served }> {
  const accepted = new Promise<Served>((resolve) => (nextServed = resolve));
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  clients.push(socket);
  socket.on('error', () => undefined); // writes after the server closed fail with EPIPE/ECONNRESET
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  assert.is(await settleWithin(new Promise((resolve) => socket.once('connect', resolve)), 2000), 'resolved', 'client connects');
  const served = await Promise.race([accepted, sleep(2000).then(() => undefined)]);
  if (!served) throw new Error('the server did not accept the connection within 2 s');
  return { client: { socket, closed }, served };
}

/** Waits (bounded) until the server's second listener has seen `bytes` bytes. */
async function receivedAll(served: Served, bytes: number, ms = 5000) {
  const deadline = Date.now() + ms;
  while (served.received < bytes && !served.socket.destroyed && Date.now() < deadline) await sleep(1);
  assert.is(served.received, bytes, 'the server received every byte');
}

async function assertClosedByGuard(client: Client, served: Served, reason: RegExp) {
  assert.is(await settleWithin(served.closed, 2000), 'resolved', 'the server closes its socket');
  assert.is(await settleWithin(client.closed, 2000), 'resolved', 'the client sees the connection close');
  assert.is(served.violations.length, 1, `one violation (${served.violations.join('; ')})`);
  assert.match(served.violations[0]!, reason);
}

async function assertKept(served: Served) {
  await sleep(50);
  assert.not.ok(served.socket.destroyed, `kept open (violations: ${served.violations.join('; ')})`);
  assert.equal(served.violations, []);
}

// ---- raw bytes over real sockets ----------------------------------------------------------------------------

const raw = suite('MQTT packet guard: raw bytes over TCP');
raw.before(startGuardedServer);
raw.after(stopGuardedServer);

raw('a CONNECT announcing 250 MB is closed at once, with the server holding a few KB', async () => {
  const { client, served } = await connectRaw();
  const started = Date.now();
  const sent = Buffer.concat([header(0x10, 250 * 1024 * 1024), Buffer.alloc(4096, 0x41)]);
  client.socket.write(sent);
  await assertClosedByGuard(client, served, /CONNECT announces 262144000 bytes/);
  assert.ok(Date.now() - started < 1000, `closed within 1 s (took ${Date.now() - started} ms)`);
  assert.ok(served.received <= sent.length, `the other listener saw at most what was sent (${served.received})`);
});

raw('a flood after an oversized header stops at the chunk holding the header', async () => {
  const { client, served } = await connectRaw();
  client.socket.write(header(0x10, 250 * 1024 * 1024));
  client.socket.write(Buffer.alloc(8 * 1024 * 1024, 0x41));
  await assertClosedByGuard(client, served, /CONNECT/);
  assert.ok(served.received < 1024 * 1024, `the other listener saw ${served.received} of 8 MB`);
});

raw('ordinary packets sent one byte per chunk are kept', async () => {
  const { client, served } = await connectRaw();
  const stream = ordinaryStream(200);
  for (let i = 0; i < stream.length; i++) {
    client.socket.write(stream.subarray(i, i + 1));
    await receivedAll(served, i + 1, 2000); // the next byte leaves only after this one arrived: one byte per chunk
  }
  assert.is(served.chunks, stream.length, 'every byte arrived in its own chunk');
  await assertKept(served);
});

raw('several ordinary packets in one chunk are kept', async () => {
  const { client, served } = await connectRaw();
  const stream = Buffer.concat([ordinaryStream(20_000), publishOfLength(limits.packetMaxBytes - 10), ordinaryStream(1000)]);
  client.socket.write(stream);
  await receivedAll(served, stream.length);
  await assertKept(served);
});

raw('a PUBLISH over packetMaxBytes is closed', async () => {
  const { client, served } = await connectRaw();
  client.socket.write(Buffer.concat([connectPacket('big'), header(0x30, limits.packetMaxBytes + 1), Buffer.alloc(2048)]));
  await assertClosedByGuard(client, served, /PUBLISH announces 65537 bytes, over the 65536-byte limit/);
});

raw('a PUBLISH of exactly packetMaxBytes is kept, and the header after it is still read', async () => {
  const { client, served } = await connectRaw();
  const kept = Buffer.concat([connectPacket('edge'), publishOfLength(limits.packetMaxBytes), pingreq]);
  client.socket.write(kept);
  await receivedAll(served, kept.length);
  await assertKept(served);
  client.socket.write(Buffer.concat([pingreq, header(0x30, limits.packetMaxBytes + 1)]));
  await assertClosedByGuard(client, served, /PUBLISH/);
});

raw('a CONNECT over connectMaxBytes is closed even under packetMaxBytes', async () => {
  const { client, served } = await connectRaw();
  client.socket.write(Buffer.concat([header(0x10, limits.connectMaxBytes + 1), Buffer.alloc(512)]));
  await assertClosedByGuard(client, served, /CONNECT announces 1025 bytes, over the 1024-byte limit/);
});

raw('a remaining length with a fifth continuation byte is malformed and closed', async () => {
  const { client, served } = await connectRaw();
  client.socket.write(Buffer.concat([connectPacket('m'), Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])]));
  await assertClosedByGuard(client, served, /malformed remaining length in a PUBLISH header/);
});

raw.run();

// ---- every chunk split, on an in-memory stream ---------------------------------------------------------

const splits = suite('MQTT packet guard: every way of splitting the bytes');

/** Feeds `chunks` to a guarded in-memory Duplex, one 'data' event each, and returns what the guard did. */
async function feed(chunks: Buffer[]) {
  const stream = new Duplex({ read() {}, write(_chunk, _encoding, done) { done(); } });
  const violations: string[] = [];
  let events = 0;
  guardMqttPackets(stream, limits, (reason) => violations.push(reason));
  stream.on('data', () => events++);
  stream.on('error', () => undefined);
  for (const chunk of chunks) stream.push(chunk);
  await new Promise((resolve) => setImmediate(resolve));
  return { violations, destroyed: stream.destroyed, events };
}

splits('ordinary packets pass wherever the chunk boundaries fall', async () => {
  const stream = Buffer.concat([ordinaryStream(20_000), connectPacket('x'.repeat(limits.connectMaxBytes - 12))]);
  assert.is(stream.readUInt8(stream.length - limits.connectMaxBytes - 3) >> 4, 1, 'the last packet is a CONNECT of exactly connectMaxBytes');
  for (let at = 0; at <= stream.length; at += at < 400 || at > stream.length - 1200 ? 1 : 97) {
    const result = await feed([stream.subarray(0, at), stream.subarray(at)].filter((c) => c.length > 0));
    assert.equal(result.violations, [], `split at ${at}`);
    assert.not.ok(result.destroyed, `split at ${at}`);
  }
  const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
  const oneByOne = await feed(bytes);
  assert.is(oneByOne.events, stream.length, 'one data event per byte');
  assert.equal(oneByOne.violations, []);
});

splits('an oversized header is found wherever the chunk boundaries fall', async () => {
  const ok = ordinaryStream(300);
  const stream = Buffer.concat([ok, header(0x30, 200 * 1024 * 1024), Buffer.alloc(64)]);
  for (let at = 0; at <= stream.length; at++) {
    const result = await feed([stream.subarray(0, at), stream.subarray(at)].filter((c) => c.length > 0));
    assert.equal(result.violations, ['PUBLISH announces 209715200 bytes, over the 65536-byte limit'], `split at ${at}`);
    assert.ok(result.destroyed, `split at ${at}`);
  }
});

splits.run();

// ---- aedes and mosquitto_pub ------------------------------------------------------------------------------

const broker = suite('MQTT packet guard in front of aedes, with mosquitto_pub');
const b: { broker?: Aedes; server?: Server; port: number; dir: string; violations: string[]; published: Array<{ topic: string; bytes: number }> } = { port: 0, dir: '', violations: [], published: [] };
const brokerLimits: PacketLimits = { connectMaxBytes: 1024, packetMaxBytes: 1024 * 1024 };
const bigSize = 48 * 1024 * 1024;

broker.before(async () => {
  b.dir = await mkdtemp(join(tmpdir(), 'mqtt-guard-'));
  b.broker = await Aedes.createBroker();
  b.broker.on('publish', (packet, client) => {
    if (client) b.published.push({ topic: packet.topic, bytes: packet.payload.length });
  });
  const aedes = b.broker;
  b.server = createServer((socket) => {
    guardMqttPackets(socket, brokerLimits, (reason) => b.violations.push(reason));
    aedes.handle(socket);
  });
  await new Promise<void>((resolve) => b.server!.listen(0, '127.0.0.1', resolve));
  b.port = (b.server.address() as AddressInfo).port;
});

broker.after(async () => {
  if (b.broker) await settleWithin(new Promise<void>((resolve) => b.broker!.close(() => resolve())), 5000);
  if (b.server) await settleWithin(new Promise<void>((resolve) => b.server!.close(() => resolve())), 5000);
  if (b.dir) await rm(b.dir, { recursive: true, force: true });
});

/** Runs mosquitto_pub against the broker, killed after `ms`. */
function mosquittoPub(args: string[], ms = 15_000): Promise<{ code: number | null; timedOut: boolean; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(b.port), '-i', `guard-${Math.random().toString(36).slice(2, 8)}`, '-q', '1', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timedOut = false;
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, ms);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, timedOut, stderr: String(error) });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut, stderr });
    });
  });
}

const memory = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

broker('a small message is published', async () => {
  const result = await mosquittoPub(['-t', 't', '-m', 'x']);
  assert.is(result.code, 0, `mosquitto_pub succeeds (${result.stderr.trim()})`);
  await until('the broker publishes the message', () => b.published.some((p) => p.topic === 't' && p.bytes === 1), 2000);
  assert.equal(b.violations, []);
});

broker('an oversized message is refused without the broker buffering it', async () => {
  const file = join(b.dir, 'big');
  await writeFile(file, '');
  await truncate(file, bigSize); // a sparse file: no 48 MB buffer in this process
  await mosquittoPub(['-t', 'warm-up', '-m', 'x']); // the first publish loads code and warms caches
  const baseline = memory();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, memory())), 2);
  const result = await mosquittoPub(['-t', 'big', '-f', file]);
  clearInterval(sampler);
  peak = Math.max(peak, memory());

  assert.not.ok(result.timedOut, 'mosquitto_pub ends by itself');
  assert.ok(result.code !== null && result.code !== 0, `mosquitto_pub fails (exit ${result.code}: ${result.stderr.trim()})`);
  const announced = 2 + 'big'.length + 2 + bigSize; // topic length, topic, packet id (QoS 1), payload
  assert.equal(b.violations, [`PUBLISH announces ${announced} bytes, over the ${brokerLimits.packetMaxBytes}-byte limit`]);
  assert.not.ok(b.published.some((p) => p.topic === 'big'), 'nothing published on the big topic');
  const growth = peak - baseline;
  assert.ok(growth < bigSize / 4, `the broker's memory grew by ${(growth / 2 ** 20).toFixed(1)} MB, far less than the ${bigSize / 2 ** 20} MB payload`);
});

broker.run();
