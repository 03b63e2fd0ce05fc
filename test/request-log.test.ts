/**
 * One log line per request in production; in development it is at debug, so a demo fleet's requests do not
 * scroll the start-up banner away (LOG_LEVEL=debug shows them).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Deps } from '../shared/platform.ts';
import { runHttpFunction } from '../shared/http/harness.ts';
import jwks from '../functions/signing/jwks.ts';
import { embeddedPlatform } from './support/call-function.ts';

const logs = suite('request log lines');
const ctx: { deps?: Deps } = {};

logs.before(async () => {
  ctx.deps = await embeddedPlatform();
});
logs.after(async () => {
  await ctx.deps?.close();
});

async function requestLines(nodeEnv: 'development' | 'production', level: 'info' | 'debug'): Promise<number> {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) });
  const deps: Deps = { ...ctx.deps!, log: pino({ level }, sink), config: { ...ctx.deps!.config, NODE_ENV: nodeEnv } };
  const reply = await runHttpFunction(jwks, { method: 'GET', path: '/auth/jwks.json', query: new URLSearchParams(), params: {}, headers: {}, body: undefined, ip: '127.0.0.1' }, deps);
  assert.is(reply.status, 200);
  return lines.filter((line) => JSON.parse(line).msg === 'request').length;
}

logs('production logs each request at info', async () => {
  assert.is(await requestLines('production', 'info'), 1);
});

logs('development keeps them out of the default level, and LOG_LEVEL=debug shows them', async () => {
  assert.is(await requestLines('development', 'info'), 0);
  assert.is(await requestLines('development', 'debug'), 1);
});

logs.run();
