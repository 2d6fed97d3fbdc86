// Runs the browser suite: starts one headless Chromium (Debian's /usr/bin/chromium, through
// playwright-core's browser server) for every test file, then node's test runner over
// tests/browser/*.test.mjs (files in parallel, a context per flow), and exits with the
// runner's status. The stack's URLs come from the environment (EDGE_URL, DEMO_URL,
// MAIL_URL): tests/e2e/browser.rs starts the stack and runs this.
//
//   node tests/browser/run.mjs [FILE.test.mjs...]     (or BROWSER_TESTS="FILE...")
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS } from "./lib.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
if (!existsSync(executablePath)) {
  console.error(
    `error: ${executablePath} is missing: the browser tests need Chromium ` +
      "(bash scripts/setup.sh installs Debian's chromium)",
  );
  process.exit(1);
}

// Some files only: as arguments, or in BROWSER_TESTS (space-separated, e.g. through cargo).
const chosen = process.argv.length > 2 ? process.argv.slice(2) : (process.env.BROWSER_TESTS ?? "").split(/\s+/);
const selected = chosen.filter(Boolean).map((f) => path.resolve(here, f));
const files = selected.length
  ? selected
  : readdirSync(here)
      .filter((f) => f.endsWith(".test.mjs"))
      .sort()
      .map((f) => path.join(here, f));
// Files run in parallel; most of a flow's time is spent waiting on the stack.
const concurrency = process.env.BROWSER_TEST_CONCURRENCY ?? "3";

const started = Date.now();
const server = await chromium.launchServer({ executablePath, headless: true, args: CHROMIUM_ARGS });
console.log(`browser suite: Chromium ${executablePath} started in ${Date.now() - started} ms`);

const runner = spawn(
  process.execPath,
  ["--test", "--test-reporter=spec", `--test-concurrency=${concurrency}`, ...files],
  { stdio: "inherit", env: { ...process.env, BROWSER_WS_ENDPOINT: server.wsEndpoint() } },
);
const stop = () => runner.kill("SIGTERM");
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
const status = await new Promise((resolve) =>
  runner.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0))),
);
await server.close();
console.log(
  `browser suite: ${files.length} file(s) in ${((Date.now() - started) / 1000).toFixed(1)} s, ` +
    `${status === 0 ? "passed" : "FAILED"}`,
);
process.exit(status);
