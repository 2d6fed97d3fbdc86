// A real Better Auth 1.4 server (email and password, jwt(), bearer()) on PostgreSQL, for the
// interoperability tests: edgeauth and this server share one database and one secret and
// must accept each other's users, sessions and JWTs.
//
//   DATABASE_URL=postgres://... BETTER_AUTH_SECRET=... BETTER_AUTH_URL=http://localhost:3000 \
//   PORT=4000 node tests/js/better-auth-server.mjs
import http from "node:http";

import { betterAuth } from "better-auth";
import { toNodeHandler } from "better-auth/node";
import { bearer, jwt } from "better-auth/plugins";
import pg from "pg";

const required = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
};

const pool = new pg.Pool({ connectionString: required("DATABASE_URL"), max: 4 });
const auth = betterAuth({
  database: pool,
  secret: required("BETTER_AUTH_SECRET"),
  baseURL: required("BETTER_AUTH_URL"),
  emailAndPassword: { enabled: true },
  plugins: [jwt(), bearer()],
  telemetry: { enabled: false },
});

const server = http.createServer(toNodeHandler(auth));
server.listen(Number(required("PORT")), "127.0.0.1", () => {
  console.log(`better-auth listening on ${server.address().port}`);
});
const stop = () => server.close(() => pool.end().then(() => process.exit(0)));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
