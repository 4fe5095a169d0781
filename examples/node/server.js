// A Node worker for cluster: serves the socket at fd 3 in inherit mode
// (LISTEN_FDS), else $PORT, and drains on SIGTERM.
const http = require('http');
const name = `${process.env.CLUSTER_PROCESS}.${process.env.CLUSTER_WORKER}`;
const server = http.createServer((req, res) => res.end(`${name} ${process.pid}\n`));
const where = process.env.LISTEN_FDS ? { fd: 3 } : { port: Number(process.env.PORT || 8080), host: '127.0.0.1' };
server.listen(where, () => console.log(`${name} listening`));
process.on('SIGTERM', () => {
  // Stop accepting (queued connections stay in the shared socket for the
  // other workers), finish in-flight requests, close idle keep-alive ones.
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
