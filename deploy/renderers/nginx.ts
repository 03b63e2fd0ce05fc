/**
 * NGINX as the single entry point (`deploy/nginx/nginx.conf`), rendered from the registry's HTTP functions:
 *
 *   location = /devices                        exact, for a static path
 *   location ~ ^/devices/[^/]+/telemetry$      a regular expression, for a path with `{id}` params
 *
 * Within a location a `map` on the method picks the function's service, so one path can lead to several
 * functions (GET /devices → searchDevices, POST /devices → addDevice); a method no function takes gets a 405
 * problem document with `Allow`. `/socket.io/` goes to the relay with the WebSocket upgrade, the docs and the
 * dashboard to the gateway, and NGINX answers its own errors (404, 405, 413, 429, 502–504) as problem+json too.
 * Every answer carries Strict-Transport-Security (the other security headers come from the gateway and functions).
 *
 * Upstreams are variables resolved per request (`resolver`), so NGINX starts, and `nginx -t` passes, before the
 * services exist, and a restarted container's new address is found again. The host names are an option, so a
 * test renders the same configuration with every upstream on a loopback port.
 */
import { httpFunctions } from '../../functions/registry.ts';
import { isPrefixPath, processes, type LongLivedProcess } from '../../functions/processes.ts';
import type { HttpFunction, HttpMethod } from '../../shared/function.ts';
import { problemKinds, problemTypeUri, type ProblemKind } from '../../shared/problem.ts';
import { configDefault } from './compose.ts';
import type { RenderedFile } from '../render.ts';
import { functionPort, kebab } from '../settings.ts';

export interface NginxOptions {
  /** The `listen` argument (default `80`). */
  listen?: string;
  /** `host:port` of a service: of a function (`add-device`), `relay` or `gateway`. Default `<service>:8080`. */
  upstream?: (service: string) => string;
  /** The `resolver` arguments; Docker's embedded DNS by default. */
  resolver?: string;
  /** Where the JSON access log goes; the container's stdout by default (`docker compose logs nginx`). */
  accessLog?: string;
}

/** Requests per second per client address on /auth/login, and the burst allowed on top. */
export const loginRate = { perSecond: 2, burst: 10 };

const methodOrder: HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

interface Route {
  /** The path template, as in the registry: `/devices/{id}`. */
  path: string;
  /** Which function answers each method. */
  methods: Map<HttpMethod, HttpFunction>;
}

/**
 * One route per distinct path. A static path also takes the methods of a `{param}` route that matches it
 * literally (GET /devices/bulk is getDevice with id "bulk"), as the gateway's router and functions-framework do.
 */
export function routes(fns: readonly HttpFunction[] = httpFunctions): Route[] {
  const byPath = new Map<string, Route>();
  for (const fn of fns) {
    const route = byPath.get(fn.path) ?? { path: fn.path, methods: new Map() };
    route.methods.set(fn.method, fn);
    byPath.set(fn.path, route);
  }
  for (const route of byPath.values()) {
    if (route.path.includes('{')) continue;
    for (const fn of fns) {
      if (fn.path.includes('{') && new RegExp(pathRegex(fn.path)).test(route.path) && !route.methods.has(fn.method)) route.methods.set(fn.method, fn);
    }
  }
  return [...byPath.values()];
}

/** `/devices/{id}/telemetry` → `^/devices/[^/]+/telemetry$` (ids never contain a slash). */
function pathRegex(path: string): string {
  return `^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')}$`;
}

function routeVariable(path: string): string {
  return `$iotfn_route_${path.replace(/[{}]/g, '').replace(/[^a-zA-Z0-9]+/g, '_').replace(/^_|_$/g, '')}`;
}

/** A problem document NGINX answers itself, in the same shape the functions answer with. */
function problem(kind: ProblemKind, detail: string): string {
  const { status, title } = problemKinds[kind];
  return JSON.stringify({ type: problemTypeUri(kind), title, status, detail });
}

/**
 * Browsers keep to HTTPS for this host for two years once they have seen this over HTTPS (TLS ends at or before
 * NGINX), and ignore it over plain HTTP. NGINX drops the server's `add_header`s in a block that has its own, so
 * every such block restates it.
 */
const hsts = 'add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;';

const quote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

const proxyHeaders = [
  'proxy_http_version 1.1;',
  'proxy_set_header Host $host;',
  'proxy_set_header X-Request-Id $iotfn_request_id;',
  'proxy_set_header X-Forwarded-For $remote_addr;',
  'proxy_set_header X-Forwarded-Proto $scheme;',
];

/** `header { lines }`, the lines indented one level; nested blocks indent again. */
function block(header: string, lines: string[]): string[] {
  return [`${header} {`, ...lines.map((line) => (line ? `    ${line}` : '')), '}'];
}

export function nginxConf(options: NginxOptions = {}): string {
  const listen = options.listen ?? '80';
  const upstream = options.upstream ?? ((service: string) => `${service}:${functionPort}`);
  const resolver = options.resolver ?? '127.0.0.11 valid=10s ipv6=off';
  const accessLog = options.accessLog ?? '/dev/stdout';
  const all = routes();
  const bodyLimitBytes = Number(configDefault('BODY_LIMIT_BYTES'));
  const bodyLimit = bodyLimitBytes % (1024 * 1024) === 0 ? `${bodyLimitBytes / (1024 * 1024)}m` : String(bodyLimitBytes);

  const maps = all.flatMap((route) => [
    ...block(`map $request_method ${routeVariable(route.path)}`, [
      'default "";',
      ...methodOrder.flatMap((method) => {
        const fn = route.methods.get(method);
        return fn ? [`${method} ${upstream(kebab(fn.name))};`] : [];
      }),
    ]),
    '',
  ]);

  const functionLocations = all.flatMap((route) => {
    const variable = routeVariable(route.path);
    const allowed = methodOrder.filter((method) => route.methods.has(method));
    const summary = allowed.map((method) => `${method} → ${route.methods.get(method)!.name}`).join(', ');
    const isLogin = allowed.some((method) => route.methods.get(method)!.name === 'login');
    return [
      `# ${route.path}: ${summary}`,
      ...block(route.path.includes('{') ? `location ~ ${pathRegex(route.path)}` : `location = ${route.path}`, [
        ...(isLogin ? [`limit_req zone=iotfn_login burst=${loginRate.burst} nodelay;`] : []),
        ...block(`if (${variable} = "")`, [
          `add_header Allow "${allowed.join(', ')}" always;`,
          'add_header X-Request-Id $iotfn_request_id always;',
          hsts,
          `return 405 ${quote(problem('method-not-allowed', `${route.path} answers ${allowed.join(', ')}`))};`,
        ]),
        `proxy_pass http://${variable};`,
      ]),
      '',
    ];
  });

  /** A long-lived process's public paths (functions/processes.ts `ingress`); a WebSocket one keeps its sockets open. */
  const processLocations = (p: LongLivedProcess) => {
    const variable = `$iotfn_${p.name}`;
    const websocket = [
      ...proxyHeaders,
      'proxy_set_header Upgrade $http_upgrade;',
      'proxy_set_header Connection $iotfn_connection;',
      'proxy_buffering off;',
      '# Longer than Socket.IO\'s ping interval (25 s), so NGINX never cuts an idle socket.',
      'proxy_read_timeout 120s;',
    ];
    return [
      `# ${p.summary}${p.ingress!.websocket ? ': WebSocket (or long-polling while the upgrade is tried)' : ''}.`,
      ...p.ingress!.paths.flatMap((path) =>
        block(isPrefixPath(path) ? `location ^~ ${path}` : `location = ${path}`, [
          `set ${variable} ${upstream(p.name)};`,
          ...(p.ingress!.websocket ? websocket : []),
          `proxy_pass http://${variable};`,
        ]),
      ),
      '',
    ];
  };

  const server = block('server', [
    `listen ${listen};`,
    "# NGINX's own answers (405, the error pages) are problem documents, like the functions'.",
    'default_type application/problem+json;',
    'proxy_hide_header X-Request-Id;',
    'add_header X-Request-Id $iotfn_request_id always;',
    hsts,
    'error_page 413 @payload_too_large;',
    'error_page 429 @rate_limited;',
    'error_page 502 503 504 @unavailable;',
    '',
    '# Inherited by every location that sets no proxy header of its own (all but /socket.io/, which restates them).',
    "# X-Forwarded-For is the client's own address: NGINX is the edge, so whatever a client sends is replaced and",
    "# the functions' per-address login limit (TRUST_PROXY) cannot be dodged by inventing one.",
    ...proxyHeaders,
    '',
    ...functionLocations,
    ...(processes as readonly LongLivedProcess[]).filter((p) => p.ingress).flatMap(processLocations),
    "# NGINX itself, for the container's health check.",
    ...block('location = /healthz', ['access_log off;', 'default_type application/json;', `return 200 '{"status":"ok"}';`]),
    '',
    ...block('location /', [`return 404 ${quote(problem('not-found', 'No route for this path'))};`]),
    '',
    ...block('location @payload_too_large', [`return 413 ${quote(problem('payload-too-large', `The body is larger than ${bodyLimit}`))};`]),
    '',
    ...block('location @rate_limited', [
      'add_header Retry-After 1 always;',
      'add_header X-Request-Id $iotfn_request_id always;',
      hsts,
      `return 429 ${quote(problem('rate-limited', 'Too many logins from this address; retry in a second'))};`,
    ]),
    '',
    ...block('location @unavailable', [`return 503 ${quote(problem('unavailable', 'The service behind this route is not answering'))};`]),
  ]);

  const http = block('http', [
    'server_tokens off;',
    '# Services are looked up per request: NGINX starts before they do, and follows a restarted container.',
    `resolver ${resolver};`,
    "# The functions' BODY_LIMIT_BYTES default: larger bodies never reach them.",
    `client_max_body_size ${bodyLimit};`,
    '',
    '# A request id the client sent is kept when it has the shape the functions accept; otherwise NGINX makes one.',
    ...block('map $http_x_request_id $iotfn_request_id', ['default $request_id;', '"~^[\\w.:-]{1,128}$" $http_x_request_id;']),
    ...block('map $http_upgrade $iotfn_connection', ['default upgrade;', '"" "";']),
    '',
    `log_format iotfn_json escape=json '{"time":"$time_iso8601","request_id":"$iotfn_request_id","client":"$remote_addr",'`,
    `    '"method":"$request_method","uri":"$request_uri","status":$status,"bytes":$body_bytes_sent,'`,
    `    '"duration":$request_time,"upstream":"$upstream_addr","upstream_status":"$upstream_status",'`,
    `    '"upstream_duration":"$upstream_response_time","user_agent":"$http_user_agent"}';`,
    `access_log ${accessLog} iotfn_json;`,
    '',
    "# Each login costs an argon2 hash: a flood from one address is turned away here, before the functions'",
    '# own limits on failed logins per account and per address.',
    `limit_req_zone $binary_remote_addr zone=iotfn_login:10m rate=${loginRate.perSecond}r/s;`,
    'limit_req_status 429;',
    '',
    '# Which service answers each method on each path; "" when no function does.',
    ...maps,
    ...server,
  ]);

  return [
    '# Rendered by deploy/renderers/nginx.ts from the function registry (`iotfn render`): edit the renderer, not this file.',
    '#',
    "# The single entry point: each route of the registry to its function's service, /socket.io/ to the relay,",
    '# the API docs and the dashboard to the gateway.',
    'worker_processes auto;',
    'error_log stderr warn;',
    '',
    ...block('events', ['worker_connections 4096;']),
    '',
    ...http,
  ].join('\n') + '\n';
}

export function renderNginx(): RenderedFile[] {
  return [{ path: 'deploy/nginx/nginx.conf', content: nginxConf() }];
}
