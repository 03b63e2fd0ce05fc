/**
 * The live connection: one Socket.IO client for the whole app, on the same origin (`/socket.io`).
 *
 * Views say which devices they watch (`watch(ids)` returns the function that stops watching); the
 * connection keeps a count per device, subscribes when a device is first watched, unsubscribes when the
 * last watcher leaves, and subscribes to all of them again after a reconnect (the server forgets a
 * socket's rooms when it drops).
 *
 * Tokens: a handshake refused as 'unauthorized' refreshes the token once and reconnects. The relay also
 * disconnects a socket when its access token expires or its session ends; socket.io does not reconnect
 * after a server-side disconnect, so the connection refreshes and reconnects itself, and signs out when
 * the refresh fails (the session really ended).
 */
import { io, type Socket } from 'socket.io-client';
import type { Api } from './api.ts';
import { loadSession } from './session.ts';
import type { Alert, Command, DeviceConfigEvent, DeviceStatusEvent, SubscriptionAck, TelemetryEvent } from './types.ts';

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

interface ServerEvents {
  telemetry: (event: TelemetryEvent) => void;
  'device:status': (event: DeviceStatusEvent) => void;
  'device:deleted': (event: { deviceId: string }) => void;
  alert: (event: { alert: Alert }) => void;
  'device:config': (event: DeviceConfigEvent) => void;
  command: (event: { command: Command }) => void;
}

interface ClientEvents {
  subscribe: (request: { deviceIds: string[] }, ack: (result: SubscriptionAck) => void) => void;
  unsubscribe: (request: { deviceIds: string[] }, ack: (result: SubscriptionAck) => void) => void;
}

type Listener<T> = (value: T) => void;

const ackTimeoutMs = 10_000;

export class LiveConnection {
  private readonly socket: Socket<ServerEvents, ClientEvents>;
  private readonly watched = new Map<string, number>();
  /** Devices the server accepted on this connection. */
  private readonly accepted = new Set<string>();
  private readonly telemetryListeners = new Set<Listener<TelemetryEvent>>();
  private readonly statusListeners = new Set<Listener<DeviceStatusEvent>>();
  private readonly deletedListeners = new Set<Listener<string>>();
  private readonly alertListeners = new Set<Listener<Alert>>();
  private readonly configListeners = new Set<Listener<DeviceConfigEvent>>();
  private readonly commandListeners = new Set<Listener<Command>>();
  private readonly stateListeners = new Set<Listener<ConnectionState>>();
  private readonly subscribedListeners = new Set<Listener<ReadonlySet<string>>>();
  private refreshedSinceConnect = false;
  private connectedAt = 0;
  /** Server-side disconnects in a row that came right after connecting. */
  private quickDrops = 0;
  state: ConnectionState = 'connecting';

  constructor(private readonly api: Api) {
    this.socket = io({
      path: '/socket.io',
      // A function, so every (re)connection presents the access token current at that moment.
      auth: (send) => send({ token: loadSession()?.accessToken ?? '' }),
      transports: ['websocket', 'polling'],
    });
    this.socket.on('connect', () => {
      this.refreshedSinceConnect = false;
      this.connectedAt = Date.now();
      this.accepted.clear();
      this.setState('connected');
      void this.subscribe([...this.watched.keys()]);
    });
    this.socket.on('disconnect', (reason) => {
      this.accepted.clear();
      this.emitSubscribed();
      this.setState(this.socket.active ? 'connecting' : 'disconnected');
      if (reason === 'io server disconnect') void this.serverDisconnected();
    });
    this.socket.on('connect_error', (error) => void this.connectFailed(error));
    this.socket.on('telemetry', (event) => this.telemetryListeners.forEach((listener) => listener(event)));
    this.socket.on('device:status', (event) => this.statusListeners.forEach((listener) => listener(event)));
    this.socket.on('device:deleted', (event) => this.deletedListeners.forEach((listener) => listener(event.deviceId)));
    this.socket.on('alert', (event) => this.alertListeners.forEach((listener) => listener(event.alert)));
    this.socket.on('device:config', (event) => this.configListeners.forEach((listener) => listener(event)));
    this.socket.on('command', (event) => this.commandListeners.forEach((listener) => listener(event.command)));
  }

  /** Watch these devices for telemetry and status; call the returned function to stop. */
  watch(deviceIds: readonly string[]): () => void {
    const fresh = deviceIds.filter((id) => {
      const count = this.watched.get(id) ?? 0;
      this.watched.set(id, count + 1);
      return count === 0;
    });
    if (fresh.length) void this.subscribe(fresh);
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      const gone = deviceIds.filter((id) => {
        const count = (this.watched.get(id) ?? 1) - 1;
        if (count > 0) this.watched.set(id, count);
        else this.watched.delete(id);
        return count <= 0;
      });
      if (gone.length && this.socket.connected) {
        gone.forEach((id) => this.accepted.delete(id));
        this.socket.timeout(ackTimeoutMs).emit('unsubscribe', { deviceIds: gone }, () => {});
      }
    };
  }

  isSubscribed(deviceId: string): boolean {
    return this.accepted.has(deviceId);
  }

  onTelemetry(listener: Listener<TelemetryEvent>): () => void {
    return subscribeTo(this.telemetryListeners, listener);
  }

  onStatus(listener: Listener<DeviceStatusEvent>): () => void {
    return subscribeTo(this.statusListeners, listener);
  }

  /** Told the id of a watched device someone deleted. */
  onDeleted(listener: Listener<string>): () => void {
    return subscribeTo(this.deletedListeners, listener);
  }

  /** Told each alert of a watched device that opened or cleared. */
  onAlert(listener: Listener<Alert>): () => void {
    return subscribeTo(this.alertListeners, listener);
  }

  /** Told each new desired configuration and each reported state of a watched device. */
  onConfig(listener: Listener<DeviceConfigEvent>): () => void {
    return subscribeTo(this.configListeners, listener);
  }

  /** Told each command of a watched device that was queued or changed status. */
  onCommand(listener: Listener<Command>): () => void {
    return subscribeTo(this.commandListeners, listener);
  }

  onState(listener: Listener<ConnectionState>): () => void {
    listener(this.state);
    return subscribeTo(this.stateListeners, listener);
  }

  /** Told the set of devices the server accepted, whenever it changes. */
  onSubscribed(listener: Listener<ReadonlySet<string>>): () => void {
    listener(this.accepted);
    return subscribeTo(this.subscribedListeners, listener);
  }

  close(): void {
    this.socket.disconnect();
    this.telemetryListeners.clear();
    this.statusListeners.clear();
    this.deletedListeners.clear();
    this.configListeners.clear();
    this.commandListeners.clear();
    this.stateListeners.clear();
    this.subscribedListeners.clear();
  }

  private async subscribe(deviceIds: string[]): Promise<void> {
    if (!deviceIds.length || !this.socket.connected) return;
    try {
      // socket.io types a timed ack loosely (any); the relay answers SubscriptionAck.
      const ack: SubscriptionAck = await this.socket.timeout(ackTimeoutMs).emitWithAck('subscribe', { deviceIds });
      // A device unwatched while the ack was on its way stays out.
      ack.accepted.filter((id) => this.watched.has(id)).forEach((id) => this.accepted.add(id));
      this.emitSubscribed();
    } catch {
      // No ack in time: the next reconnect subscribes again.
    }
  }

  private async connectFailed(error: Error): Promise<void> {
    if (error.message !== 'unauthorized') {
      this.setState(this.socket.active ? 'connecting' : 'disconnected');
      return;
    }
    // The server refused the handshake, so socket.io will not retry by itself.
    this.setState('disconnected');
    if (this.refreshedSinceConnect) return;
    this.refreshedSinceConnect = true;
    if (await this.api.refresh()) {
      this.setState('connecting');
      this.socket.connect();
    } else {
      this.api.signOut();
    }
  }

  private async serverDisconnected(): Promise<void> {
    // A relay that drops every fresh connection is not helped by refreshing in a loop.
    this.quickDrops = Date.now() - this.connectedAt < 1000 ? this.quickDrops + 1 : 0;
    if (this.quickDrops >= 3) return;
    if (await this.api.refresh()) {
      this.setState('connecting');
      this.socket.connect();
    } else {
      this.api.signOut();
    }
  }

  private setState(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    this.stateListeners.forEach((listener) => listener(state));
  }

  private emitSubscribed(): void {
    this.subscribedListeners.forEach((listener) => listener(this.accepted));
  }
}

function subscribeTo<T>(listeners: Set<Listener<T>>, listener: Listener<T>): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
