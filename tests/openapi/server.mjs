// Starts the real stemedb binary for a test, as tests/e2e/server_process.h
// does: a fresh temp root (data in data/, the server's stderr in
// stderr.log), a free loopback port, auth on with a generated root key, and
// no STEMEDB_* variable of the caller's environment. Readiness is
// GET /v1/ready = 200 (or, with {ready: false}, any answer at all).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../util/free_port.mjs";

const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});


export async function startServer(bin, { env = {}, ready = true, timeoutMs = 60000 } = {}) {
  const root = mkdtempSync(join(tmpdir(), "stemedb-openapi-"));
  const port = await freePort();
  const rootKey = "steme_live_" + randomBytes(24).toString("hex");
  const childEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("STEMEDB_")) childEnv[k] = v;
  }
  Object.assign(childEnv, {
    STEMEDB_BIND_ADDR: `127.0.0.1:${port}`,
    STEMEDB_DATA_DIR: join(root, "data"),
    STEMEDB_ROOT_API_KEY: rootKey,
    ...env,
  });
  const log = join(root, "stderr.log");
  const fd = openSync(log, "w");
  // PR_SET_PDEATHSIG (setpriv): a test killed by ctest's timeout leaks no server.
  const child = spawn("setpriv", ["--pdeathsig", "KILL", "--", bin], {
    env: childEnv,
    stdio: ["ignore", fd, fd],
  });
  running.add(child);
  let exited = null;
  child.on("exit", (code, signal) => {
    exited = { code, signal };
    running.delete(child);
  });
  const url = `http://127.0.0.1:${port}`;
  const stderr = () => readFileSync(log, "utf8");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) throw new Error(`stemedb exited (${JSON.stringify(exited)}):\n${stderr()}`);
    try {
      const r = await fetch(`${url}/v1/ready`);
      if (!ready || r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${url}/v1/ready not 200 after ${timeoutMs} ms:\n${stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    rootKey,
    stderr,
    async stop() {
      if (!exited) {
        const done = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 20000);
        await done;
        clearTimeout(timer);
      }
      if (!process.env.STEMEDB_E2E_KEEP) rmSync(root, { recursive: true, force: true });
      return exited;
    },
  };
}
