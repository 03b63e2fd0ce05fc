/**
 * The message bus port: how the devices domain hands telemetry and device events to monitoring.
 *
 * Production adapter: RabbitMQ (amqplib) with topic exchanges, persistent messages and publisher confirms.
 * Embedded adapter: an in-process bus with the same semantics, playing the part Knative's InMemoryChannel
 * plays in a cluster. Both pass one contract suite (test/bus.contract.ts).
 *
 * Delivery is at least once: `publish` resolves only once the broker has taken responsibility for the
 * message (confirm), and a consumed message is acknowledged only after its handler resolves. A handler that
 * throws gets the message again later (`redelivered: true`), unless it throws `RejectMessage`, which
 * dead-letters the message (or drops it when its queue has no dead-letter exchange).
 */
export interface OutgoingMessage {
  /** Unique id of the message (AMQP message-id); consumers deduplicate on it. */
  id: string;
  /** What the message is, e.g. `iotfn.telemetry` (AMQP type). */
  type: string;
  body: Buffer;
  contentType?: string;
  headers?: Record<string, string | number | boolean>;
  /** Epoch ms; defaults to now. */
  timestamp?: number;
}

export interface DeliveredMessage extends Required<Omit<OutgoingMessage, 'headers'>> {
  headers: Record<string, unknown>;
  exchange: string;
  routingKey: string;
  /** True when this message was delivered before and not acknowledged. */
  redelivered: boolean;
}

export interface Binding {
  exchange: string;
  /** AMQP topic pattern: `*` matches one word, `#` zero or more. */
  pattern: string;
}

export interface QueueSpec {
  name: string;
  /** Durable queues survive a broker restart; exclusive auto-delete queues die with their consumer. */
  durable: boolean;
  exclusive?: boolean;
  bindings: Binding[];
  /** Where rejected messages go (a fanout or topic exchange), keeping their routing key. */
  deadLetterExchange?: string;
  /** Bound on ready messages; the oldest are dropped (or dead-lettered) past it. */
  maxLength?: number;
}

export interface ConsumeOptions {
  /** Unacknowledged messages in flight to this consumer at once. */
  prefetch?: number;
}

export interface Subscription {
  /** Stops receiving; messages in flight are not acknowledged and will be delivered again. */
  cancel(): Promise<void>;
}

export interface Bus {
  readonly kind: 'rabbitmq' | 'memory';
  /** Declares a topic exchange (idempotent). */
  declareExchange(name: string, type?: 'topic' | 'fanout'): Promise<void>;
  /** Declares a queue with its bindings (idempotent). */
  declareQueue(spec: QueueSpec): Promise<void>;
  /** Resolves when the broker confirms the message; rejects when it cannot take it. */
  publish(exchange: string, routingKey: string, message: OutgoingMessage): Promise<void>;
  consume(queue: string, handler: (message: DeliveredMessage) => Promise<void>, options?: ConsumeOptions): Promise<Subscription>;
  /** Ready (not yet delivered) messages in a queue. */
  queueDepth(queue: string): Promise<number>;
  /** Up to `limit` ready messages from the head of a queue, left where they are (for tools: dead letters). */
  browse(queue: string, limit: number): Promise<DeliveredMessage[]>;
  /**
   * Takes up to `limit` ready messages from the head of a queue, one at a time: each is removed once `use`
   * resolves; when `use` throws, that message and the rest stay in the queue and the error is thrown.
   * Resolves with how many were taken.
   */
  take(queue: string, limit: number, use: (message: DeliveredMessage) => Promise<void>): Promise<number>;
  /** Puts a message straight into one queue, past every exchange (AMQP's default exchange); confirmed like publish. */
  sendToQueue(queue: string, message: OutgoingMessage): Promise<void>;
  deleteQueue(queue: string): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Thrown by a handler to dead-letter a message instead of getting it again: it can never be processed. */
export class RejectMessage extends Error {
  override name = 'RejectMessage';
}
