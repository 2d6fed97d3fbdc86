// The benchmark's upstream application: answers every request 200 "ok", and echoes the
// identity the worker in front of it sent (x-edgeauth-user-id, x-edgeauth-auth) in the
// x-bench-user / x-bench-auth response headers, so the benchmark can check what arrived.
//
//   node bench/upstream.mjs PORT        (listens on 127.0.0.1:PORT)

import http from "node:http";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error("usage: node bench/upstream.mjs PORT");
  process.exit(2);
}

const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, {
      "content-type": "text/plain",
      "content-length": "2",
      "x-bench-user": req.headers["x-edgeauth-user-id"] ?? "-",
      "x-bench-auth": req.headers["x-edgeauth-auth"] ?? "-",
    });
    res.end("ok");
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1", () => console.log(`upstream listening on 127.0.0.1:${port}`));
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
