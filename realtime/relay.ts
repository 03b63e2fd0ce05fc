/**
 * The realtime relay: one long-lived Socket.IO server that pushes live telemetry and device status to
 * browsers, on the same origin as the API (path `/socket.io`).
 *
 *   const socket = io({ auth: { token: accessToken } });
 *   socket.emit('subscribe', { deviceIds: [id] }, ({ accepted, refused }) => …);
 *   socket.on('telemetry', ({ deviceId, ts, values }) => …);   socket.on('device:status', ({ deviceId, online }) => …);
 *   socket.on('alert', ({ alert }) => …);   // an alert of the device opened or cleared
 *   socket.on('device:config', ({ deviceId, kind, version, … }) => …);   // kind 'desired' (config) or 'reported' (state)
 *   socket.on('command', ({ command }) => …);   // a command to the device changed status
 *
 * What it reads off the bus and what it sends are the schemas of shared/messages.ts (`liveEvents`).
 *
 * Each relay process binds its own exclusive queue to the telemetry and device-event exchanges, so several
 * relays behind a load balancer each serve their own clients with nothing shared but RabbitMQ. The access
 * token is checked at the handshake (signature, expiry, session), every subscribe is checked against the
 * devices the user owns; a logout or a revoked session reaches every relay as `session.ended` on the bus and
 * closes the session's sockets at once, a socket closes by itself when its token expires, and a slow sweep
 * re-checks sessions as a backstop. A user holds at most RELAY_MAX_SOCKETS_PER_USER sockets on one relay, a
 * socket watches at most RELAY_MAX_SUBSCRIPTIONS_PER_SOCKET devices.
 *
 * Flow control: a device's updates are merged to the latest value per key and sent at most once per
 * RELAY_COALESCE_MS (live-coalescer.ts: the first at once, the rest at the window's end), so a device sending
 * 1,000 messages a second costs a browser ten updates; a client whose connection cannot keep up misses
 * intermediate values instead of buffering them, and never slows the others.
 */
import { randomUUID } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import { Server, type DefaultEventsMap, type Socket } from 'socket.io';
import type { Deps } from '../shared/platform.ts';
import type { Caller } from '../shared/function.ts';
import type { Subscription } from '../shared/ports/bus.ts';
import { requireUser } from '../shared/auth/require-user.ts';
import { isSessionActive } from '../shared/auth/sessions.ts';
import { exchanges } from '../shared/bus/topology.ts';
import { relayEmitted, relaySockets } from '../shared/metrics.ts';
import { liveCoalescer } from './live-coalescer.ts';
import {
  AlertData,
  CommandData,
  dataOf,
  DeviceConfigData,
  DeviceDeletedData,
  DeviceStateData,
  DeviceStatusData,
  SessionEndedData,
  SubscribeRequest,
  TelemetryEventData,
  telemetryMessagesOf,
  type StoredPoint,
  type LiveEvents,
  type LiveTelemetry,
  type SubscriptionAck,
} from '../shared/messages.ts';

interface SocketData {
  /** The caller, with its token's expiry: the socket must reconnect with a fresh token after it. */
  user: Caller;
  /** Gives the user's place among RELAY_MAX_SOCKETS_PER_USER back (once, however often called). */
  releaseSlot: () => void;
}

type RelaySocket = Socket<DefaultEventsMap, LiveEvents, DefaultEventsMap, SocketData>;

const room = (deviceId: string) => `device:${deviceId}`;
/**
 * Packets engine.io holds for a client until its transport can take them. The field is private in the
 * typings but is what engine.io itself drains; reading it is the only way to see a slow client per socket.
 */
const backlogOf = (socket: { conn: unknown }) => (socket.conn as { writeBuffer?: unknown[] }).writeBuffer?.length ?? 0;
/** Packets waiting to be written to one client beyond which it is treated as slow. */
const slowClientBacklog = 64;

export interface RelayOptions {
  /**
   * Re-check every socket's session this often (default 30 s). A backstop only: logout and revocation reach
   * the relay at once as `session.ended` on the bus, and each socket closes by itself when its token expires.
   */
  sessionCheckMs?: number;
}

export interface Relay {
  io: Server;
  stop(): Promise<void>;
}

export async function attachRelay(httpServer: HttpServer, deps: Deps, options: RelayOptions = {}): Promise<Relay> {
  const io = new Server<DefaultEventsMap, LiveEvents, DefaultEventsMap, SocketData>(httpServer, { path: '/socket.io', serveClient: false, maxHttpBufferSize: 64 * 1024 });
  const coalesceMs = deps.config.RELAY_COALESCE_MS;

  const { RELAY_MAX_SOCKETS_PER_USER: maxSocketsPerUser, RELAY_MAX_SUBSCRIPTIONS_PER_SOCKET: maxSubscriptions } = deps.config;
  /** Open sockets of each user on this process, counted from the handshake (so parallel handshakes count too). */
  const socketsOf = new Map<string, number>();
  const release = (userId: string) => {
    const left = (socketsOf.get(userId) ?? 1) - 1;
    if (left > 0) socketsOf.set(userId, left);
    else socketsOf.delete(userId);
  };

  io.use((socket, next) => {
    const token = (socket.handshake.auth as { token?: unknown }).token;
    requireUser(typeof token === 'string' ? `Bearer ${token}` : undefined, deps).then(
      (user) => {
        const open = socketsOf.get(user.userId) ?? 0;
        if (open >= maxSocketsPerUser) return next(new Error(`too many connections: at most ${maxSocketsPerUser} per user`));
        socketsOf.set(user.userId, open + 1);
        let released = false;
        const releaseSlot = () => {
          if (!released) release(user.userId);
          released = true;
        };
        (socket as RelaySocket).data = { user, releaseSlot };
        // Also when the handshake never becomes a connection.
        socket.conn.once('close', releaseSlot);
        next();
      },
      () => next(new Error('unauthorized')),
    );
  });

  /** Closes every socket of a session: the client hears `session:ended` first, so it can sign in again. */
  function endSessionSockets(sessionId: string): void {
    for (const [, raw] of io.sockets.sockets) {
      const socket = raw as RelaySocket;
      if (socket.data?.user?.sessionId !== sessionId) continue;
      socket.emit('session:ended');
      socket.disconnect(true);
    }
  }

  io.on('connection', (raw) => {
    const socket = raw as RelaySocket;
    relaySockets.inc();
    // The token's expiry is known now: the socket ends then, without waiting for a sweep.
    const expiry = setTimeout(() => {
      socket.emit('session:ended');
      socket.disconnect(true);
    }, Math.max(0, Math.min(socket.data.user.expiresAt - Date.now(), 2 ** 31 - 1)));
    expiry.unref();
    socket.on('disconnect', () => {
      clearTimeout(expiry);
      socket.data.releaseSlot();
      relaySockets.dec();
    });

    const onSubscription = (joining: boolean) => async (body: unknown, ack?: unknown) => {
      const reply = typeof ack === 'function' ? (ack as (answer: SubscriptionAck) => void) : () => undefined;
      const parsed = SubscribeRequest.safeParse(body);
      if (!parsed.success) return reply({ accepted: [], refused: [], error: 'expected {deviceIds: string[]}' });
      const ids = [...new Set(parsed.data.deviceIds)];
      if (!joining) {
        for (const id of ids) await socket.leave(room(id));
        return reply({ accepted: ids, refused: [] });
      }
      try {
        const visible = await deps.directory.visibleDevices(socket.data.user, ids);
        const allowed = ids.filter((id) => visible.has(id.toLowerCase())).map((id) => id.toLowerCase());
        // Rooms the socket is in: its own (Socket.IO's) and one per watched device.
        const watching = new Set([...socket.rooms].filter((name) => name.startsWith(room(''))));
        const fresh = allowed.filter((id) => !watching.has(room(id)));
        const space = Math.max(0, maxSubscriptions - watching.size);
        const accepted = [...allowed.filter((id) => watching.has(room(id))), ...fresh.slice(0, space)];
        await socket.join(accepted.map(room));
        const refused = ids.filter((id) => !accepted.includes(id.toLowerCase()));
        if (fresh.length > space) return reply({ accepted, refused, error: `too many subscriptions: at most ${maxSubscriptions} devices per socket` });
        reply({ accepted, refused });
      } catch (error) {
        deps.log.error({ err: error }, 'relay subscribe failed');
        reply({ accepted: [], refused: ids, error: 'try again' });
      }
    };
    socket.on('subscribe', onSubscription(true));
    socket.on('unsubscribe', onSubscription(false));
  });

  /**
   * Sends a live update to each socket in the device's room, skipping a socket whose outgoing buffer is
   * already long: that client is not keeping up, so it misses this intermediate value (the next one carries
   * the latest of every key anyway) and its backlog, not the others', bounds what it costs. Socket.IO's own
   * `volatile` is no substitute: it also drops updates to fast clients when several go out in one tick.
   */
  function emitToRoom(deviceId: string, update: LiveTelemetry): void {
    for (const id of io.sockets.adapter.rooms.get(room(deviceId)) ?? []) {
      const socket = io.sockets.sockets.get(id);
      if (!socket) continue;
      if (backlogOf(socket) > slowClientBacklog) {
        relayEmitted.inc({ event: 'telemetry-skipped' });
        continue;
      }
      socket.emit('telemetry', update);
      relayEmitted.inc({ event: 'telemetry' });
    }
  }

  const live = liveCoalescer(coalesceMs, (deviceId, update) => emitToRoom(deviceId, { deviceId, ...update }));
  /** Hands a device's points to the coalescer, when anyone watches it. */
  function takeTelemetry(deviceId: string, points: readonly StoredPoint[]): void {
    if ((io.sockets.adapter.rooms.get(room(deviceId))?.size ?? 0) === 0) return;
    live.take(deviceId, points);
  }

  const queue = `iotfn.relay.${randomUUID()}`;
  await deps.bus.declareQueue({
    name: queue,
    durable: false,
    exclusive: true,
    // Live data only: a relay that falls far behind drops the oldest rather than growing without bound.
    maxLength: 100_000,
    bindings: [
      { exchange: exchanges.telemetry, pattern: 'telemetry.*' },
      { exchange: exchanges.events, pattern: 'device.status' },
      { exchange: exchanges.events, pattern: 'device.deleted' },
      { exchange: exchanges.events, pattern: 'alert.*' },
      { exchange: exchanges.events, pattern: 'device.config.updated' },
      { exchange: exchanges.events, pattern: 'device.state.reported' },
      { exchange: exchanges.events, pattern: 'command.updated' },
      { exchange: exchanges.events, pattern: 'session.ended' },
    ],
  });
  // Device rooms anyone is in: while there are none (no dashboard open), telemetry is acknowledged unread,
  // since parsing a fleet's batches for nobody is most of what this process would do.
  let watchedDevices = 0;
  io.sockets.adapter.on('create-room', (name: string) => void (name.startsWith(room('')) && watchedDevices++));
  io.sockets.adapter.on('delete-room', (name: string) => void (name.startsWith(room('')) && watchedDevices--));

  const subscription: Subscription = await deps.bus.consume(
    queue,
    async (message) => {
      if (watchedDevices === 0 && message.exchange === exchanges.telemetry) return;
      let event: unknown;
      try {
        event = JSON.parse(message.body.toString('utf8'));
      } catch {
        // Live data only: a message no browser could use is dropped (acknowledged), never retried.
        deps.log.debug({ routingKey: message.routingKey }, 'relay dropped a message that is not JSON');
        return;
      }
      if (message.exchange === exchanges.telemetry || message.routingKey.startsWith('telemetry.')) {
        const data = dataOf(TelemetryEventData, event);
        if (!data) return;
        for (const { deviceId, points } of telemetryMessagesOf('', data)) takeTelemetry(deviceId, points);
      } else if (message.routingKey === 'device.status') {
        const data = dataOf(DeviceStatusData, event);
        if (!data) return;
        io.to(room(data.deviceId)).emit('device:status', { deviceId: data.deviceId, online: data.online, lastSeenAt: data.lastSeenAt });
        relayEmitted.inc({ event: 'device:status' });
      } else if (message.routingKey === 'device.deleted') {
        const data = dataOf(DeviceDeletedData, event);
        if (!data) return;
        const name = room(data.deviceId);
        io.to(name).emit('device:deleted', { deviceId: data.deviceId });
        io.in(name).socketsLeave(name);
      } else if (message.routingKey.startsWith('alert.')) {
        const data = dataOf(AlertData, event);
        if (!data) return;
        // Rare and each one matters: never coalesced or skipped like telemetry.
        io.to(room(data.deviceId)).emit('alert', { alert: data.alert });
        relayEmitted.inc({ event: 'alert' });
      } else if (message.routingKey === 'device.config.updated') {
        const data = dataOf(DeviceConfigData, event);
        if (!data) return;
        // Each version matters to whoever watches a rollout: never coalesced or skipped.
        io.to(room(data.deviceId)).emit('device:config', { ...data, kind: 'desired' });
        relayEmitted.inc({ event: 'device:config' });
      } else if (message.routingKey === 'device.state.reported') {
        const data = dataOf(DeviceStateData, event);
        if (!data) return;
        io.to(room(data.deviceId)).emit('device:config', { ...data, kind: 'reported' });
        relayEmitted.inc({ event: 'device:config' });
      } else if (message.routingKey === 'session.ended') {
        const data = dataOf(SessionEndedData, event);
        if (data) endSessionSockets(data.sessionId);
      } else if (message.routingKey === 'command.updated') {
        const data = dataOf(CommandData, event);
        if (!data) return;
        io.to(room(data.deviceId)).emit('command', { command: data.command });
        relayEmitted.inc({ event: 'command' });
      }
    },
    { prefetch: 500 },
  );

  const sessionCheck = setInterval(() => {
    void (async () => {
      const now = Date.now();
      for (const [, raw] of io.sockets.sockets) {
        const socket = raw as RelaySocket;
        if (!socket.data?.user) continue;
        if (now >= socket.data.user.expiresAt || !(await isSessionActive(deps.cache, socket.data.user.sessionId))) {
          socket.emit('session:ended');
          socket.disconnect(true);
        }
      }
    })().catch((error: unknown) => deps.log.warn({ err: error }, 'relay session check failed'));
  }, options.sessionCheckMs ?? 30_000);
  sessionCheck.unref();

  return {
    io,
    async stop() {
      clearInterval(sessionCheck);
      live.stop();
      await subscription.cancel().catch(() => undefined);
      await deps.bus.deleteQueue(queue).catch(() => undefined);
      io.disconnectSockets(true);
      // io.close() would also close the HTTP server it is attached to; the gateway owns that.
      io.engine.close();
    },
  };
}
