/**
 * The limit beside a function process: functions-framework alone serving a constant JSON body, through its own
 * CLI (`functions-framework --source=bench/lib/framework-hello.cjs --target=hello`). What it cannot exceed, no
 * function it hosts can: express, its body parsers, the execution context and the per-request domain.
 */
const functions = require('@google-cloud/functions-framework');

const body = JSON.stringify({ status: 'ok' });
functions.http('hello', (_request, response) => {
  response.set('content-type', 'application/json; charset=utf-8');
  response.send(body);
});
