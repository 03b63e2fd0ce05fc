/**
 * The ceiling: a bare node:http server answering a trivial JSON body on every path, run as its own process
 * (PORT from the environment) so it gets a core to itself as the servers under test do. Plain JavaScript, so
 * its spawn → first answer is node's own start-up, the floor for every cold-start figure.
 */
import { createServer } from 'node:http';

const body = JSON.stringify({ status: 'ok' });
const server = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  response.end(body);
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
