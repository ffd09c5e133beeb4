// A typed client generated from the real server's document, compiled and run
// against that server (docs/api.md "OpenAPI and generated clients").
// Usage: node typed_client.mjs path/to/stemedb
//   1. start stemedb (loopback, bootstrap key from STEMEDB_ROOT_API_KEY);
//   2. GET /v1/openapi.json -> openapi-typescript -> stemedb-api.d.ts;
//   3. tsc --strict compiles client.ts (openapi-fetch) against those types;
//   4. node runs it against the same server.
// Everything happens in a temp directory; node_modules is this directory's
// (pinned by package-lock.json, installed by npm_install.sh).
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "./server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.argv[2];
if (!bin) {
  console.error("usage: node typed_client.mjs STEMEDB_BINARY");
  process.exit(2);
}

function run(what, args, env = process.env) {
  try {
    const out = execFileSync(process.execPath, args, { env, encoding: "utf8", timeout: 120000 });
    console.log(`ok   ${what}`);
    return out;
  } catch (e) {
    console.log(`FAIL ${what}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
    throw new Error(`${what} failed`);
  }
}

const work = mkdtempSync(join(tmpdir(), "stemedb-typed-client-"));
const server = await startServer(bin);
let ok = false;
try {
  const doc = await (await fetch(`${server.url}/v1/openapi.json`)).text();
  writeFileSync(join(work, "openapi.json"), doc);
  symlinkSync(join(here, "node_modules"), join(work, "node_modules"));
  writeFileSync(join(work, "package.json"), '{"type":"module"}\n');
  copyFileSync(join(here, "client.ts"), join(work, "client.ts"));
  run("openapi-typescript generates stemedb-api.d.ts from the served document", [
    join(here, "node_modules/openapi-typescript/bin/cli.js"),
    join(work, "openapi.json"),
    "--output",
    join(work, "stemedb-api.d.ts"),
  ]);
  run("tsc --strict compiles client.ts against the generated types", [
    join(here, "node_modules/typescript/bin/tsc"),
    "--strict",
    "--noEmit",
    "false",
    "--target",
    "es2022",
    "--module",
    "nodenext",
    "--moduleResolution",
    "nodenext",
    "--outDir",
    join(work, "out"),
    join(work, "client.ts"),
  ]);
  const out = run("the compiled client writes, queries, reads by id, gets a typed 400", [
    join(work, "out/client.js"),
  ], { ...process.env, STEMEDB_URL: server.url, STEMEDB_KEY: server.rootKey });
  process.stdout.write(out);
  ok = true;
} catch (e) {
  console.log(e.message);
  console.log(`server log:\n${server.stderr().slice(-3000)}`);
} finally {
  await server.stop();
  if (!process.env.STEMEDB_E2E_KEEP) rmSync(work, { recursive: true, force: true });
}
console.log(`openapi_typed_client: ${ok ? "1 passed, 0 failed" : "0 passed, 1 failed"}`);
process.exit(ok ? 0 : 1);
