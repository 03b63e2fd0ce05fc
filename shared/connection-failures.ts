/**
 * Why a connection to a server failed, in words a person can act on, by Node's error code: one table for every
 * message that names where a server was expected (start-up's DATABASE_URL and REDIS_URL, the CLI clients' URLs).
 *
 *   `${url}: ${connectionFailures[error.code]} (${error.code})`   // "…: nothing listens there: is the server running? (ECONNREFUSED)"
 */
export const connectionFailures: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'nothing listens there: is the server running?',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name does not resolve',
  ETIMEDOUT: 'no answer in time',
  EHOSTUNREACH: 'the host is unreachable',
  ECONNRESET: 'the connection was reset',
  UND_ERR_SOCKET: 'the connection closed before an answer',
};
