-- Telemetry partitioned by day, and rollups per minute and per hour (shared/adapters/telemetry/postgres.ts).
--
-- Partitions make retention free: a day past TELEMETRY_RETENTION_DAYS is one DROP TABLE, not a delete of every
-- row. Rollups answer long-range charts from one row per device, key and minute or hour instead of every point;
-- they are partitioned by month and kept for TELEMETRY_ROLLUP_RETENTION_DAYS, longer than the points.
--
-- The two functions below are the only place that names, makes and drops partitions: this migration, the
-- adapter's writes (a partition for each day written) and its retention pass all call them.

-- Makes the missing partitions of `parent` covering [from_ts, to_ts), one per UTC day or month, named
-- <parent>_pYYYYMMDD or <parent>_pYYYYMM; returns how many it made. Each is created apart and then attached:
-- ATTACH takes a SHARE UPDATE EXCLUSIVE lock on the parent, so writers and readers go on, where CREATE TABLE
-- ... PARTITION OF would take ACCESS EXCLUSIVE. An advisory lock per name keeps two writers from racing.
-- Partitions go in the parent's schema, whatever the search_path.
CREATE FUNCTION telemetry_partitions_ensure(parent text, unit text, from_ts timestamptz, to_ts timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  start timestamptz;
  stop timestamptz;
  name text;
  made integer := 0;
  schema text := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.oid = to_regclass(quote_ident(parent)));
BEGIN
  IF unit NOT IN ('day', 'month') THEN
    RAISE EXCEPTION 'partition unit must be day or month, not %', unit;
  END IF;
  start := date_trunc(unit, from_ts, 'UTC');
  WHILE start < to_ts LOOP
    stop := date_trunc(unit, start + CASE unit WHEN 'day' THEN interval '1 day 1 hour' ELSE interval '32 days' END, 'UTC');
    name := parent || '_p' || to_char(start AT TIME ZONE 'UTC', CASE unit WHEN 'day' THEN 'YYYYMMDD' ELSE 'YYYYMM' END);
    IF to_regclass(format('%I.%I', schema, name)) IS NULL THEN
      PERFORM pg_advisory_xact_lock(hashtext('telemetry partition ' || schema || '.' || name));
      IF to_regclass(format('%I.%I', schema, name)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', schema, name, schema, parent);
        EXECUTE format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)', schema, parent, schema, name, start, stop);
        made := made + 1;
      END IF;
    END IF;
    start := stop;
  END LOOP;
  RETURN made;
END $$;

-- Drops the partitions of `parent` that end at or before `cutoff`, oldest first; returns each one's name and its
-- rows as the planner's statistics count them (counting exactly would read what retention exists to skip), or
-- counted when it has none yet: a table autovacuum has never analyzed is new or small.
-- A partition's range comes from its name, as telemetry_partitions_ensure made it.
CREATE FUNCTION telemetry_partitions_drop(parent text, cutoff timestamptz)
RETURNS TABLE (dropped text, row_count bigint) LANGUAGE plpgsql AS $$
DECLARE
  part record;
BEGIN
  FOR part IN
    SELECT c.relname::text AS name, c.oid::regclass::text AS qualified, c.reltuples::bigint AS estimate,
           CASE length(digits)
             WHEN 8 THEN (to_date(digits, 'YYYYMMDD') + interval '1 day') AT TIME ZONE 'UTC'
             WHEN 6 THEN (to_date(digits, 'YYYYMM') + interval '1 month') AT TIME ZONE 'UTC'
           END AS ends
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL substring(c.relname FROM '_p([0-9]+)$') AS digits
    WHERE i.inhparent = to_regclass(quote_ident(parent))
    ORDER BY c.relname
  LOOP
    IF part.ends IS NOT NULL AND part.ends <= cutoff THEN
      row_count := part.estimate;
      IF row_count < 0 THEN
        EXECUTE format('SELECT count(*) FROM %s', part.qualified) INTO row_count;
      END IF;
      EXECUTE format('DROP TABLE %s', part.qualified);
      dropped := part.name;
      RETURN NEXT;
    END IF;
  END LOOP;
END $$;

ALTER TABLE telemetry RENAME TO telemetry_unpartitioned;
ALTER INDEX telemetry_pkey RENAME TO telemetry_unpartitioned_pkey;
ALTER INDEX telemetry_device_ts RENAME TO telemetry_unpartitioned_device_ts;

CREATE TABLE telemetry (
  device_id uuid NOT NULL,
  key text NOT NULL,
  ts timestamptz NOT NULL,
  num double precision,
  bool boolean,
  str text,
  PRIMARY KEY (device_id, key, ts),
  CONSTRAINT telemetry_one_value CHECK (num_nonnulls(num, bool, str) = 1)
) PARTITION BY RANGE (ts);
CREATE INDEX telemetry_device_ts ON telemetry (device_id, ts);

-- One row per device, key and bucket start: how many values, how many of them numbers, and the numbers' sum,
-- minimum and maximum (null when none was a number). Averages are sum / num_count.
CREATE TABLE telemetry_rollup_1m (
  device_id uuid NOT NULL,
  key text NOT NULL,
  bucket timestamptz NOT NULL,
  count integer NOT NULL CHECK (count > 0),
  num_count integer NOT NULL CHECK (num_count BETWEEN 0 AND count),
  sum double precision,
  min double precision,
  max double precision,
  PRIMARY KEY (device_id, key, bucket)
) PARTITION BY RANGE (bucket);

CREATE TABLE telemetry_rollup_1h (LIKE telemetry_rollup_1m INCLUDING CONSTRAINTS, PRIMARY KEY (device_id, key, bucket))
  PARTITION BY RANGE (bucket);

-- What was stored before, moved into partitions and rolled up.
SELECT telemetry_partitions_ensure('telemetry', 'day', d, d + interval '1 microsecond')
FROM (SELECT DISTINCT date_trunc('day', ts, 'UTC') AS d FROM telemetry_unpartitioned) days;
SELECT telemetry_partitions_ensure(t, 'month', m, m + interval '1 microsecond')
FROM (SELECT DISTINCT date_trunc('month', ts, 'UTC') AS m FROM telemetry_unpartitioned) months,
     unnest(ARRAY['telemetry_rollup_1m', 'telemetry_rollup_1h']) AS t;

INSERT INTO telemetry SELECT device_id, key, ts, num, bool, str FROM telemetry_unpartitioned;
DROP TABLE telemetry_unpartitioned;

INSERT INTO telemetry_rollup_1m (device_id, key, bucket, count, num_count, sum, min, max)
SELECT device_id, key, date_bin(interval '1 minute', ts, timestamptz 'epoch'), count(*), count(num), sum(num), min(num), max(num)
FROM telemetry GROUP BY 1, 2, 3;
INSERT INTO telemetry_rollup_1h (device_id, key, bucket, count, num_count, sum, min, max)
SELECT device_id, key, date_bin(interval '1 hour', bucket, timestamptz 'epoch'), sum(count), sum(num_count), sum(sum), min(min), max(max)
FROM telemetry_rollup_1m GROUP BY 1, 2, 3;
