/**
 * The agent's log: one JSON object per line on stderr (`{"time","level","msg",…}`), readable by journald,
 * Docker and any log shipper. The agent runs on end devices, away from the platform, so it does not pull in
 * the platform's logging setup; tests pass a log that records the lines instead.
 */
export type LogFields = Record<string, unknown>;

export interface AgentLog {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export function jsonLinesLog(out: { write(text: string): unknown } = process.stderr): AgentLog {
  const line = (level: string) => (msg: string, fields: LogFields = {}) =>
    void out.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + '\n');
  return { info: line('info'), warn: line('warn'), error: line('error') };
}
