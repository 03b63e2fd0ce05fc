/**
 * Times for tests that store telemetry: a point older than the retention (30 days by default) counts only in the
 * rollups, so a fixed date would stop being stored as a point once it is that old.
 */

/** Midnight UTC yesterday: inside any retention, whole seconds and minutes from it line up with buckets. */
export const recentDay = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000;
