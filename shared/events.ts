/**
 * Events in one shape, CloudEvents 1.0 (structured JSON), whatever protocol brought the data in: HTTP and
 * MQTT telemetry and device lifecycle events all travel the bus like this, which is also how Knative's
 * RabbitMQ source hands them to a function.
 */
import { randomUUID } from 'node:crypto';
import type { OutgoingMessage } from './ports/bus.ts';

export interface CloudEvent<T = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject?: string;
  time: string;
  datacontenttype: 'application/json';
  data: T;
}

export function cloudEvent<T>(fields: { type: string; source: string; subject?: string; data: T; id?: string; time?: Date }): CloudEvent<T> {
  return {
    specversion: '1.0',
    id: fields.id ?? randomUUID(),
    source: fields.source,
    type: fields.type,
    ...(fields.subject ? { subject: fields.subject } : {}),
    time: (fields.time ?? new Date()).toISOString(),
    datacontenttype: 'application/json',
    data: fields.data,
  };
}

/** The bus message that carries an event: its id and type are the event's, so consumers can dedupe. */
export function eventMessage(event: CloudEvent): OutgoingMessage {
  return {
    id: event.id,
    type: event.type,
    body: Buffer.from(JSON.stringify(event)),
    contentType: 'application/cloudevents+json',
    timestamp: Date.parse(event.time),
  };
}
