/**
 * The one error type of the platform and its catalogue of problem kinds (RFC 9457 problem+json).
 *
 * A function throws `new Problem('not-found', 'No device abc')`; the harness turns it into
 *   { "type": "/problems/not-found", "title": "Not found", "status": 404, "detail": "No device abc" }
 * Anything that is not a Problem becomes a 500 `internal` problem and is logged: a 5xx is a bug.
 * The `type` of each kind is stable: clients may switch on it.
 */
export const problemKinds = {
  validation: { status: 400, title: 'The request is not valid' },
  'malformed-request': { status: 400, title: 'The request is not well-formed HTTP' },
  'invalid-json': { status: 400, title: 'The body is not valid JSON' },
  unauthenticated: { status: 401, title: 'Authentication is required' },
  'invalid-credentials': { status: 401, title: 'Email or password is wrong' },
  'invalid-token': { status: 401, title: 'The token is not valid' },
  'refresh-token-reused': { status: 401, title: 'The refresh token was already used; the session is revoked' },
  forbidden: { status: 403, title: 'Not allowed' },
  'device-disabled': { status: 403, title: 'The device is disabled' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'request-timeout': { status: 408, title: 'The request was not received in time' },
  conflict: { status: 409, title: 'Conflict' },
  'email-taken': { status: 409, title: 'The email is already registered' },
  'command-expired': { status: 409, title: 'The command expired before it was completed' },
  'precondition-failed': { status: 412, title: 'The resource changed since the version given' },
  'payload-too-large': { status: 413, title: 'The body is too large' },
  'too-many-points': { status: 413, title: 'Too many telemetry points in one request' },
  'uri-too-long': { status: 414, title: 'The URL is too long' },
  'unsupported-media-type': { status: 415, title: 'Unsupported content type' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'headers-too-large': { status: 431, title: 'The request headers are too large' },
  internal: { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'A service this depends on is unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemKind = keyof typeof problemKinds;

export interface FieldError {
  /** Where the offending value is: `body.email`, `query.limit`, `params.id`. */
  path: string;
  message: string;
}

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export const problemContentType = 'application/problem+json';

/** Whether `kind` names a problem of the catalogue: its own keys only, never one inherited from Object.prototype. */
export function isProblemKind(kind: string): kind is ProblemKind {
  return Object.hasOwn(problemKinds, kind);
}

export function problemTypeUri(kind: ProblemKind): string {
  return `/problems/${kind}`;
}

export class Problem extends Error {
  readonly kind: ProblemKind;
  readonly status: number;
  readonly errors?: FieldError[];
  /** Response headers the problem needs, such as `Retry-After` or `Allow`. */
  readonly headers: Record<string, string>;
  readonly extensions: Record<string, unknown>;

  constructor(
    kind: ProblemKind,
    detail: string,
    options: { errors?: FieldError[]; headers?: Record<string, string>; extensions?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(detail, { cause: options.cause });
    this.name = 'Problem';
    this.kind = kind;
    this.status = problemKinds[kind].status;
    if (options.errors) this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }

  toDocument(instance?: string): ProblemDocument {
    return {
      ...this.extensions,
      type: problemTypeUri(this.kind),
      title: problemKinds[this.kind].title,
      status: this.status,
      detail: this.message,
      ...(instance ? { instance } : {}),
      ...(this.errors ? { errors: this.errors } : {}),
    };
  }
}

/** Whatever was thrown, as a Problem: unknown errors become `internal` without leaking their message. */
export function asProblem(error: unknown): Problem {
  if (error instanceof Problem) return error;
  return new Problem('internal', 'An unexpected error happened; it has been logged.', { cause: error });
}
