// A stand-in for your application behind the edge, for `bash scripts/dev.sh`: it answers every
// request with the identity the edge vouched for, so the whole flow can be tried locally:
//
//   curl -i http://127.0.0.1:8787/app/hello            -> 401 from the edge
//   (sign up or in through http://127.0.0.1:8787/api/auth/..., then with the cookie)
//   curl -b 'better-auth.session_token=...' http://127.0.0.1:8787/app/hello
import http from "node:http";

const port = Number(process.env.DEMO_UPSTREAM_PORT ?? 3001);
http
  .createServer((req, res) => {
    const identity = {
      userId: req.headers["x-edgeauth-user-id"] ?? null,
      email: req.headers["x-edgeauth-user-email"] ?? null,
      sessionId: req.headers["x-edgeauth-session-id"] ?? null,
      via: req.headers["x-edgeauth-auth"] ?? null,
    };
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ app: "demo upstream", method: req.method, path: req.url, identity }));
  })
  .listen(port, "127.0.0.1", () => console.log(`demo upstream on http://127.0.0.1:${port}`));
