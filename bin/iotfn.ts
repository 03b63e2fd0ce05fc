#!/usr/bin/env -S node --import tsx
/**
 * iotfn: the platform's command line.
 *
 *   iotfn dev                 run every function in one process (the local gateway); what `npm start` runs
 *   iotfn functions           list the functions with their routes
 *   iotfn openapi [file]      write the OpenAPI document (stdout without a file)
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import { createPlatform } from '../shared/platform.ts';
import { createGateway } from '../shared/http/gateway.ts';
import { buildOpenApi } from '../shared/http/openapi.ts';
import { version } from '../shared/version.ts';
import { functions } from '../functions/registry.ts';

const usage = `usage: iotfn <command>

  dev                 run every function in one process on PORT (default 8080)
  functions           list the functions with their routes
  openapi [file]      write the OpenAPI document (stdout without a file)
`;

async function dev(): Promise<void> {
  const config = loadConfig();
  const deps = await createPlatform(config);
  const server = createGateway({ functions, deps, version });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const lines = [
    `iotfn ${version} serving ${functions.length} functions on http://localhost:${port}`,
    `  API docs  http://localhost:${port}/docs`,
    ...Object.entries(deps.adapters).map(([port, adapter]) => `  ${port.padEnd(9)} ${adapter}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    deps.log.info({ signal }, 'stopping');
    // Finish the requests in flight before the adapters close under them; idle keep-alive sockets go now.
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeIdleConnections();
    const grace = new Promise((resolve) => setTimeout(resolve, 5000).unref());
    void Promise.race([closed, grace])
      .then(() => deps.close())
      .finally(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

function list(): void {
  const rows = functions.map((fn) => [fn.name, fn.domain, `${fn.method} ${fn.path}`, fn.auth === 'user' ? 'bearer' : 'public']);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) process.stdout.write(row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  ') + '\n');
}

function openapi(file: string | undefined): void {
  const text = JSON.stringify(buildOpenApi(functions, { version }), null, 2) + '\n';
  if (file) writeFileSync(file, text);
  else process.stdout.write(text);
}

async function main(argv: string[]): Promise<void> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: false });
  const [command, ...rest] = positionals;
  switch (command) {
    case 'dev':
      return dev();
    case 'functions':
      return list();
    case 'openapi':
      return openapi(rest[0]);
    default:
      process.stderr.write(usage);
      process.exit(command ? 2 : 0);
  }
}

main(process.argv.slice(2)).catch((error: Error) => {
  process.stderr.write(`${error.name}: ${error.message}\n`);
  process.exit(1);
});
