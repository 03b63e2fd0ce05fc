/**
 * The telemetry store port over MongoDB (the production store): a time-series collection whose TTL does
 * retention, and a normal collection of the message ids already stored. What it sends is built in
 * mongo-queries.ts, where it is unit-tested; this file only connects and sends.
 *
 *   const telemetry = await createMongoTelemetryStore(process.env.MONGO_URL!, { dbName: 'iot' });
 *   await telemetry.prepare({ retentionDays: 30 });
 *
 * Needs MongoDB 7.0 or later (deletes filtered on time in a time-series collection).
 */
import { MongoClient } from 'mongodb';
import type { TelemetryStore } from '../../ports/telemetry-store.ts';
import {
  aggregatePipeline,
  bucket,
  defaultCollection,
  deleteRangeFilter,
  deviceMarkersFilter,
  devicePointsFilter,
  latestPipeline,
  latestValue,
  markerDocuments,
  markerIndexes,
  markerLookup,
  markerRetentionCommand,
  markersCollection,
  onlyDuplicateKeys,
  overwriteFilter,
  pointCollectionOptions,
  pointDocuments,
  pointIndexes,
  pointRetentionCommand,
  rawFind,
  storedValue,
  uniqueMessages,
  type MessageMarker,
  type PointDocument,
} from './mongo-queries.ts';

export interface MongoTelemetryOptions {
  /** The database; the one named in the URL when absent. */
  dbName?: string;
  /** The points collection; markers go to `<collection>_messages`. */
  collection?: string;
}

export async function createMongoTelemetryStore(
  url: string,
  options: MongoTelemetryOptions = {},
): Promise<TelemetryStore> {
  // Bounded waits: an unreachable server fails the call in seconds instead of hanging a function.
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: 5000,
    connectTimeoutMS: 5000,
    maxPoolSize: 10,
    appName: 'telemetry-store',
  });
  await client.connect();
  const db = client.db(options.dbName);
  const pointsName = options.collection ?? defaultCollection;
  const markersName = markersCollection(pointsName);
  const points = db.collection<PointDocument>(pointsName);
  const markers = db.collection<MessageMarker>(markersName);

  return {
    kind: 'mongodb',

    async prepare({ retentionDays }) {
      const found = await db.listCollections({ name: pointsName }, { nameOnly: true }).toArray();
      if (found.length > 0) await db.command(pointRetentionCommand(pointsName, retentionDays));
      else await createIgnoringRace(() => db.createCollection(pointsName, pointCollectionOptions(retentionDays)));
      await points.createIndexes(pointIndexes);

      try {
        await markers.createIndexes(markerIndexes(retentionDays));
      } catch (error) {
        // IndexOptionsConflict: the TTL index exists with another retention; change it in place.
        if ((error as { code?: unknown }).code !== 85) throw error;
        await db.command(markerRetentionCommand(markersName, retentionDays));
        await markers.createIndexes(markerIndexes(retentionDays));
      }
    },

    /**
     * Points first, markers second. A marker stored before its points would, after a crash in between,
     * make the redelivery skip a message whose points were never stored: data lost. In this order a crash
     * leaves points without a marker; the redelivery deletes and rewrites them (last write wins goes through
     * `overwriteFilter`), so nothing is stored twice. Two deliveries of one message written at the same
     * moment can still both pass the marker check and store its points twice: a time-series collection
     * takes no unique index that would stop it.
     */
    async write(messages) {
      const unique = uniqueMessages(messages);
      const repeatedInCall = messages.length - unique.length;
      if (unique.length === 0) return { written: 0, duplicates: 0 };

      const stored = new Set(
        (await markers.find(markerLookup(unique.map((m) => m.messageId)), { projection: { _id: 1 } }).toArray()).map(
          (marker) => marker._id,
        ),
      );
      const fresh = unique.filter((message) => !stored.has(message.messageId));
      const docs = pointDocuments(fresh);
      const replaced = overwriteFilter(docs);
      if (replaced) await points.deleteMany(replaced);
      if (docs.length > 0) await points.insertMany(docs, { ordered: false });
      if (fresh.length > 0) {
        try {
          await markers.insertMany(markerDocuments(fresh, new Date()), { ordered: false });
        } catch (error) {
          if (!onlyDuplicateKeys(error)) throw error;
        }
      }
      return { written: fresh.length, duplicates: unique.length - fresh.length + repeatedInCall };
    },

    async raw(query) {
      // MongoDB reads a limit of 0 as no limit at all.
      if (query.limit <= 0) return [];
      const { filter, sort, limit, projection } = rawFind(query);
      const docs = await points.find(filter, { sort, limit, projection }).toArray();
      return docs.map(storedValue);
    },

    async aggregate(query) {
      // Building the pipeline refuses a bad interval; its $project gives exactly this shape.
      const docs = await points.aggregate<Parameters<typeof bucket>[0]>(aggregatePipeline(query)).toArray();
      return docs.map(bucket);
    },

    async latest(deviceId, keys) {
      // The pipeline's $group gives exactly this shape.
      const docs = await points.aggregate<Parameters<typeof latestValue>[0]>(latestPipeline(deviceId, keys)).toArray();
      return docs.map(latestValue);
    },

    async deleteRange(query) {
      const { deletedCount } = await points.deleteMany(deleteRangeFilter(query));
      return deletedCount;
    },

    async deleteDevice(deviceId) {
      await points.deleteMany(devicePointsFilter(deviceId));
      await markers.deleteMany(deviceMarkersFilter(deviceId));
    },

    async expire() {
      // The TTL settings made by prepare do it, for points and markers alike.
      return 0;
    },

    async ping() {
      await db.command({ ping: 1 });
    },

    close: () => client.close(),
  };
}

/** Another instance preparing at the same moment may create the collection first (NamespaceExists, 48). */
async function createIgnoringRace(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (error) {
    if ((error as { code?: unknown }).code !== 48) throw error;
  }
}
