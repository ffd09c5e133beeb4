// Holds /v1/openapi.json to what the real server does (docs/api.md "OpenAPI
// and generated clients"). Usage: node conformance.mjs path/to/stemedb
//
// 1. The served document is a valid OpenAPI 3.0 document (swagger-parser),
//    and every example in it validates against its own schema.
// 2. Each operation gets real requests, over HTTP, that draw every status the
//    document lists for it: success paths, the handler's own errors, and the
//    pipeline's (400 and 413 on every route; 401, 403, 415, 429 on every
//    authenticated one; 507 on a server whose disk floor is above the free
//    space; 503 from a WAL failed through a test failpoint and from the boot
//    handler). Only 500 is not drawn: it needs a storage error under a
//    running server.
// 3. Every reply must be documented for its operation and status, and its
//    body must validate against that schema with every object closed
//    (additionalProperties: false added where the document leaves it open),
//    so an undocumented reply field fails as surely as a missing one.
import SwaggerParser from "@apidevtools/swagger-parser";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import { createHash, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import http from "node:http";
import { startServer } from "./server.mjs";

const bin = process.argv[2];
if (!bin) {
  console.error("usage: node conformance.mjs STEMEDB_BINARY");
  process.exit(2);
}

const failures = [];
let checks = 0;
// While set, failures and drawn statuses are kept aside (onBooting commits
// them only for a round that ran entirely inside the boot window).
let tentative = null;
function fail(text) {
  const what = text.replace(/steme_live_[0-9a-f]{48}/g, "steme_live_…"); // no key in logs
  if (tentative) return tentative.failures.push(what);
  failures.push(what);
  console.log(`FAIL ${what}`);
}

// --- HTTP: node's http module, so GET and DELETE can carry a body (413) and
// a reply can be held open (409 for a second backup).
// declareOnly: send the headers (with the body's Content-Length) but not the
// body, for the 413 the server answers from the header: writing a body it will
// never read races its close (EPIPE before the reply is parsed).
function send(base, { method = "GET", path, body, headers = {}, hold = false, declareOnly = false }) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const payload = body === undefined ? undefined : Buffer.from(body);
    const req = http.request(url, {
      method,
      agent: false,
      headers: payload ? { ...headers, "Content-Length": payload.length } : headers,
    });
    let answered = false;
    req.on("response", (res) => {
      answered = true;
      if (hold) return resolve({ status: res.statusCode, headers: res.headers, req, res });
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on("error", reject);
    });
    // The server may answer 413 from the header and close while the body
    // is still going out: the reply counts, the write error does not.
    req.on("error", (e) => {
      if (!answered) reject(e);
    });
    req.setTimeout(30000, () => req.destroy(new Error(`${method} ${path}: no reply in 30 s`)));
    if (declareOnly) {
      req.on("response", (res) => res.on("end", () => req.destroy()));
      req.flushHeaders();
      return;
    }
    if (payload) req.write(payload);
    req.end();
  });
}

// --- the document and its schemas ---

const SCHEMA_BASE = "https://stemedb.invalid/schemas/";

// A deep copy with refs made absolute and every object closed.
function closed(v) {
  if (Array.isArray(v)) return v.map(closed);
  if (v === null || typeof v !== "object") return v;
  const out = {};
  for (const [k, child] of Object.entries(v)) {
    if (k === "$ref") {
      out[k] = child.replace("#/components/schemas/", SCHEMA_BASE);
    } else if (k === "example" || k === "examples") {
      out[k] = child;
    } else {
      out[k] = closed(child);
    }
  }
  if (out.type === "object" && out.properties && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

function makeValidator(doc) {
  const ajv = new Ajv({ strict: true, allErrors: true });
  addFormats(ajv);
  ajv.addKeyword("example");
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    ajv.addSchema({ ...closed(schema), $id: SCHEMA_BASE + name });
  }
  const compiled = new Map();
  return (schema, value) => {
    const key = JSON.stringify(schema);
    if (!compiled.has(key)) compiled.set(key, ajv.compile(closed(schema)));
    const validate = compiled.get(key);
    return validate(value) ? null : ajv.errorsText(validate.errors, { dataVar: "reply" });
  };
}

function resolveResponse(doc, r) {
  if (!r || !r.$ref) return r;
  const name = r.$ref.replace("#/components/responses/", "");
  return doc.components.responses[name];
}

// --- the run ---

const seen = new Map(); // operationId -> Set of statuses
let doc;
let validate;
let ops; // operationId -> {method, path, op}

function isPublic(op) {
  return Array.isArray(op.security) && op.security.length === 0;
}

// One request to operation `id`; the reply is checked against the document.
async function call(server, id, opts = {}) {
  if (!ops.has(id)) throw new Error(`operationId ${id} is not in the document`);
  const { method, path, op } = ops.get(id);
  let target = path;
  for (const [k, v] of Object.entries(opts.params ?? {})) target = target.replace(`{${k}}`, v);
  const query = new URLSearchParams(opts.query ?? {}).toString();
  if (query) target += "?" + query;
  const headers = { ...(opts.headers ?? {}) };
  if (opts.key) headers["X-API-Key"] = opts.key;
  let body = opts.raw;
  if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !headers["Content-Type"]) headers["Content-Type"] = "application/json";
  const r = await send(server.url, { method, path: target, body, headers, declareOnly: opts.declareOnly });
  const what = `${id} ${method} ${target} -> ${r.status}`;
  checks++;
  if (tentative) {
    tentative.seen.push([id, r.status]);
  } else {
    if (!seen.has(id)) seen.set(id, new Set());
    seen.get(id).add(r.status);
  }
  if (opts.expect !== undefined && r.status !== opts.expect) {
    fail(`${what}: expected ${opts.expect}; body ${r.body.toString().slice(0, 300)}`);
  }
  const documented = resolveResponse(doc, op.responses[String(r.status)]);
  if (!documented) {
    fail(`${what}: status not documented for ${id}; body ${r.body.toString().slice(0, 300)}`);
    return r;
  }
  for (const [name, h] of Object.entries(documented.headers ?? {})) {
    if (h.required && r.headers[name.toLowerCase()] === undefined) fail(`${what}: no ${name}`);
  }
  const media = (r.headers["content-type"] ?? "").split(";")[0].trim();
  const content = documented.content?.[media];
  if (!content) {
    fail(`${what}: content type '${media}' not documented`);
    return r;
  }
  if (media === "application/json") {
    try {
      r.json = JSON.parse(r.body.toString());
    } catch (e) {
      fail(`${what}: not JSON: ${e.message}`);
      return r;
    }
    const err = validate(content.schema, r.json);
    if (err) fail(`${what}: ${err}; body ${r.body.toString().slice(0, 400)}`);
  } else if (r.body.length === 0) {
    fail(`${what}: empty ${media} body`);
  }
  return r;
}

function spki32(publicKey) {
  return publicKey.export({ type: "spki", format: "der" }).subarray(-32).toString("base64");
}

const ZERO_ID = "0".repeat(32);
const ZERO_KEY_ID = "0".repeat(16);

// A request that passes the pipeline up to the step under test: valid path
// parameters, the project an admin key must name, a body of the right type.
function routine(id) {
  const { method, op } = ops.get(id);
  const opts = { params: { id: ZERO_ID, key_id: ZERO_KEY_ID, project: "default" }, query: {} };
  if ((op.parameters ?? []).some((p) => p.name === "project" && p.in === "query")) {
    opts.query.project = "default";
  }
  if (method === "POST") opts.body = {};
  return opts;
}

async function main() {
  const A = await startServer(bin);
  try {
    doc = JSON.parse((await send(A.url, { path: "/v1/openapi.json" })).body.toString());
    try {
      await SwaggerParser.validate(structuredClone(doc));
      console.log(`ok   the served document is valid OpenAPI ${doc.openapi}`);
    } catch (e) {
      fail(`swagger-parser refuses the document: ${e.message}`);
    }
    validate = makeValidator(doc);
    ops = new Map();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(item)) {
        ops.set(op.operationId, { method: m.toUpperCase(), path, op });
      }
    }
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      if (schema.example === undefined) {
        fail(`schema ${name} has no example`);
        continue;
      }
      const err = validate({ $ref: `#/components/schemas/${name}` }, schema.example);
      if (err) fail(`example of ${name}: ${err}`);
    }
    for (const [name, resp] of Object.entries(doc.components.responses ?? {})) {
      const media = resp.content["application/json"];
      for (const [ex, { value }] of Object.entries(media.examples ?? {})) {
        const err = validate(media.schema, value);
        if (err) fail(`example ${ex} of response ${name}: ${err}`);
      }
    }
    await onNormalServer(A);
  } finally {
    await A.stop();
  }
  const B = await startServer(bin, { env: { STEMEDB_MIN_FREE_BYTES: String(2n ** 62n) } });
  try {
    await onFullDisk(B);
  } finally {
    await B.stop();
  }
  const C = await startServer(bin, { env: { STEMEDB_FAILPOINT: "sync_eio_after=40" } });
  try {
    await onFailedWal(C);
  } finally {
    await C.stop();
  }
  await onBooting();
  await onStandby();

  // Every documented status was drawn, but 500.
  const rows = [];
  for (const [id, { op }] of ops) {
    const documented = Object.keys(op.responses).map(Number);
    const got = seen.get(id) ?? new Set();
    const missing = documented.filter((s) => !got.has(s) && s !== 500);
    if (missing.length) fail(`${id}: documented but never drawn: ${missing.join(", ")}`);
    rows.push(`${id.padEnd(22)} ${[...got].sort().join(" ")}`);
  }
  console.log("operation              statuses drawn and validated\n" + rows.join("\n"));
  console.log(`openapi_conformance: ${checks - failures.length} passed, ${failures.length} failed`);
  process.exit(failures.length ? 1 : 0);
}

async function createKey(server, body) {
  const r = await call(server, "createApiKey", { key: server.rootKey, body, expect: 201 });
  return r.json;
}

async function onNormalServer(A) {
  const root = A.rootKey;
  const W = (await createKey(A, { label: "w", role: "write_agent", project: "default" })).key;
  const R = (await createKey(A, { label: "r", role: "read_only", project: "default" })).key;
  const B = (await createKey(A, { label: "b", role: "backup" })).key;
  const limited = await createKey(A, {
    label: "limited",
    role: "read_only",
    project: "default",
    rate_limit: "0.001/s,1",
  });
  // The one token of the limited key: every later request of it gets 429.
  await call(A, "getUsage", { key: limited.key, expect: 200 });

  // The pipeline's statuses, on every operation.
  for (const [id, { method, op }] of ops) {
    await call(A, id, { ...routine(id), query: { ...routine(id).query, bogus: "1" }, expect: 400 });
    const big = { ...routine(id), key: root, body: undefined, raw: "x".repeat(1048577), declareOnly: true };
    await call(A, id, { ...big, headers: { "Content-Type": "application/json" }, expect: 413 });
    if (isPublic(op)) continue;
    await call(A, id, { ...routine(id), expect: 401 });
    await call(A, id, { ...routine(id), key: id === "streamBackup" ? W : B, expect: 403 });
    await call(A, id, { ...routine(id), key: limited.key, expect: 429 });
    if (method === "POST") {
      const wrong = { ...routine(id), key: root, body: undefined, raw: "{}" };
      await call(A, id, { ...wrong, headers: { "Content-Type": "text/plain" }, expect: 415 });
    }
  }

  for (const id of ["getHealth", "getReadiness", "getMetrics", "getOpenApiDocument"]) {
    await call(A, id, { expect: 200 });
  }

  // Assertions.
  const sky = { subject: "sky", predicate: "color", value: "blue", agent_id: "alice" };
  const idem = { "Idempotency-Key": "conformance-1" };
  const first = await call(A, "createAssertion", {
    key: W,
    body: { ...sky, confidence: 0.9, observed_at: "2026-11-22T15:38:22Z" },
    headers: idem,
    expect: 201,
  });
  await call(A, "createAssertion", {
    key: W,
    body: { ...sky, confidence: 0.9, observed_at: "2026-11-22T15:38:22Z" },
    headers: idem,
    expect: 201,
  });
  await call(A, "createAssertion", { key: W, body: sky, headers: idem, expect: 409 });
  await call(A, "createAssertion", { key: W, body: { subject: "sky" }, expect: 400 });
  await call(A, "createAssertion", { key: W, raw: "not json", expect: 400 });
  await call(A, "createAssertion", { key: root, body: sky, expect: 400 }); // no ?project=
  await call(A, "createAssertion", {
    key: root,
    query: { project: "default" },
    body: { ...sky, value: { nested: [1, null, true] } },
    expect: 201,
  });
  const batch = {
    assertions: [
      { subject: "earth", predicate: "shape", value: "round", agent_id: "alice" },
      { subject: "earth", predicate: "shape", value: "flat", agent_id: "bob" },
    ],
  };
  const bidem = { "Idempotency-Key": "conformance-2" };
  await call(A, "createAssertionBatch", { key: W, body: batch, headers: bidem, expect: 201 });
  await call(A, "createAssertionBatch", { key: W, body: batch, headers: bidem, expect: 201 });
  await call(A, "createAssertionBatch", {
    key: W,
    body: { assertions: batch.assertions.slice(1) },
    headers: bidem,
    expect: 409,
  });
  await call(A, "createAssertionBatch", { key: W, body: { assertions: [] }, expect: 400 });

  const door = await call(A, "createAssertion", {
    key: W,
    body: { subject: "door", predicate: "state", value: "open", agent_id: "alice" },
    expect: 201,
  });
  const ridem = { "Idempotency-Key": "conformance-3" };
  const retraction = await call(A, "retractAssertion", {
    key: W,
    body: { id: door.json.id },
    headers: ridem,
    expect: 201,
  });
  await call(A, "retractAssertion", { key: W, body: { id: first.json.id }, headers: ridem, expect: 409 });
  await call(A, "retractAssertion", { key: W, body: { id: ZERO_ID }, expect: 404 });
  await call(A, "retractAssertion", { key: W, body: { id: "nope" }, expect: 400 });

  await call(A, "getAssertion", { key: R, params: { id: first.json.id }, expect: 200 });
  await call(A, "getAssertion", { key: R, params: { id: door.json.id }, expect: 200 });
  await call(A, "getAssertion", { key: R, params: { id: retraction.json.id }, expect: 200 });
  await call(A, "getAssertion", { key: R, params: { id: ZERO_ID }, expect: 404 });

  await call(A, "queryAssertions", { key: R, query: { subject: "sky" }, expect: 200 });
  await call(A, "queryAssertions", {
    key: R,
    query: { subject: "door", history: "true" },
    expect: 200,
  });
  const page = await call(A, "queryAssertions", {
    key: R,
    query: { subject: "earth", limit: "1" },
    expect: 200,
  });
  if (page.json?.next_cursor) {
    await call(A, "queryAssertions", {
      key: R,
      query: { subject: "earth", limit: "1", cursor: page.json.next_cursor },
      expect: 200,
    });
  } else {
    fail("queryAssertions limit=1 over two assertions gave no next_cursor");
  }
  await call(A, "queryAssertions", { key: R, query: { as_of: "lsn:1", subject: "sky" }, expect: 200 });
  await call(A, "queryAssertions", { key: R, query: {}, expect: 400 });
  await call(A, "queryAssertions", { key: R, query: { subject: "sky", limit: "5000" }, expect: 400 });

  await call(A, "getBeliefs", { key: R, query: { subject: "earth" }, expect: 200 });
  await call(A, "getBeliefs", { key: R, query: {}, expect: 400 });

  // Agents: registered, registered again, replaced by a non-admin, bad key;
  // then an unsigned write of that agent is a bad_signature 401.
  const pub = spki32(generateKeyPairSync("ed25519").publicKey);
  const other = spki32(generateKeyPairSync("ed25519").publicKey);
  const agent = { agent_id: "sensor-7", public_key: pub };
  await call(A, "registerAgentKey", { key: W, body: agent, expect: 201 });
  await call(A, "registerAgentKey", { key: W, body: agent, expect: 200 });
  await call(A, "registerAgentKey", { key: W, body: { ...agent, public_key: other }, expect: 403 });
  await call(A, "registerAgentKey", { key: W, body: { ...agent, public_key: "xx" }, expect: 400 });
  const unsigned = await call(A, "createAssertion", {
    key: W,
    body: { subject: "room", predicate: "temp", value: 21, agent_id: "sensor-7" },
    expect: 401,
  });
  if (unsigned.json?.error?.code !== "bad_signature") fail("unsigned write: not bad_signature");

  await call(A, "getUsage", { key: W, expect: 200 });
  await call(A, "getUsage", { key: root, expect: 200 });

  // Keys.
  await call(A, "createApiKey", { key: root, body: { label: "x", role: "king" }, expect: 400 });
  await call(A, "listApiKeys", { key: root, expect: 200 });
  await call(A, "listApiKeys", { key: root, query: { project: "default" }, expect: 200 });
  const doomed = await createKey(A, { label: "doomed", role: "read_only", project: "other" });
  await call(A, "revokeApiKey", { key: root, params: { key_id: doomed.key_id }, expect: 200 });
  await call(A, "revokeApiKey", { key: root, params: { key_id: ZERO_KEY_ID }, expect: 404 });
  const rotating = await createKey(A, { label: "rot", role: "write_agent", project: "default" });
  const p = { key_id: rotating.key_id };
  await call(A, "rotateApiKey", { key: root, params: p, body: { grace_seconds: -1 }, expect: 400 });
  await call(A, "rotateApiKey", { key: root, params: p, body: { grace_seconds: 60 }, expect: 201 });
  await call(A, "rotateApiKey", { key: root, params: p, body: { grace_seconds: 60 }, expect: 409 });
  await call(A, "rotateApiKey", { key: root, params: { key_id: ZERO_KEY_ID }, expect: 404 });
  await call(A, "listApiKeys", { key: root, expect: 200 }); // now with rotated_to

  await call(A, "listAuditRecords", { key: root, query: { limit: "1" }, expect: 200 });
  await call(A, "listAuditRecords", { key: root, expect: 200 });
  await call(A, "listAuditRecords", { key: root, query: { limit: "0" }, expect: 400 });
  await call(A, "getAdminUsage", { key: root, expect: 200 });
  await call(A, "getAdminUsage", { key: root, query: { project: "default" }, expect: 200 });

  // Project export and import (docs/projects.md): the export of default back
  // into default skips every id; into another project of this server it is 409.
  const project = { project: "default" };
  const exported = await call(A, "exportProject", { key: root, params: project, expect: 200 });
  await call(A, "exportProject", { key: root, params: project, query: { after: ZERO_ID }, expect: 400 });
  const nd = { "Content-Type": "application/x-ndjson" };
  const lines = exported.body.toString();
  await call(A, "importProject", { key: root, params: project, raw: lines, headers: nd, expect: 200 });
  await call(A, "importProject", { key: root, params: { project: "other" }, raw: lines, headers: nd, expect: 409 });
  await call(A, "importProject", { key: root, params: project, raw: "{}\n", headers: nd, expect: 400 });

  // The project registry and a quota (docs/projects.md): create is safe to
  // repeat (200), other limits are 409; the write past the quota is 403.
  const reg = { project: "registry-demo" };
  const limits = { project: "registry-demo", max_assertions: 1 };
  await call(A, "createProject", { key: root, body: limits, expect: 201 });
  await call(A, "createProject", { key: root, body: limits, expect: 200 });
  await call(A, "createProject", { key: root, body: { ...limits, max_assertions: 2 }, expect: 409 });
  await call(A, "createProject", { key: root, body: { project: "Bad_Name" }, expect: 400 });
  await call(A, "listProjects", { key: root, expect: 200 });
  await call(A, "getProject", { key: root, params: reg, expect: 200 });
  await call(A, "getProject", { key: root, params: { project: "never-was" }, expect: 404 });
  await call(A, "updateProject", { key: root, params: reg, body: { max_bytes: 1000000 }, expect: 200 });
  await call(A, "updateProject", { key: root, params: reg, body: { max_bytes: -1 }, expect: 400 });
  await call(A, "updateProject", { key: root, params: { project: "never-was" }, body: { max_bytes: 1 }, expect: 404 });
  const one = { subject: "q", predicate: "p", value: 1, agent_id: "a" };
  await call(A, "createAssertion", { key: root, query: reg, body: one, expect: 201 });
  const over = await call(A, "createAssertion", { key: root, query: reg, body: one, expect: 403 });
  if (over.json?.error?.code !== "quota_exceeded") fail("write past the quota: not quota_exceeded");
  await call(A, "recountProject", { key: root, params: reg, expect: 200 });
  await call(A, "recountProject", { key: root, params: { project: "never-was" }, expect: 404 });

  // Deletion, erasure and legal holds (docs/projects.md).
  const demo = { project: "erase-demo" };
  for (const subject of ["s1", "s2"]) {
    await call(A, "createAssertion", {
      key: root,
      query: demo,
      body: { subject, predicate: "p", value: 1, agent_id: "a" },
      expect: 201,
    });
  }
  await call(A, "placeLegalHold", { key: root, params: demo, body: { subject: "s1" }, expect: 201 });
  await call(A, "placeLegalHold", { key: root, params: demo, body: { subject: "s1" }, expect: 200 });
  await call(A, "eraseProjectData", { key: root, params: demo, body: { subject: "s1" }, expect: 409 });
  await call(A, "listLegalHolds", { key: root, params: demo, expect: 200 });
  await call(A, "releaseLegalHold", { key: root, params: demo, query: { subject: "s1" }, expect: 200 });
  await call(A, "releaseLegalHold", { key: root, params: demo, query: { subject: "s1" }, expect: 404 });
  await call(A, "eraseProjectData", { key: root, params: demo, body: { subject: "s1" }, expect: 200 });
  await call(A, "placeLegalHold", { key: root, params: demo, expect: 201 });
  await call(A, "deleteProject", { key: root, params: demo, expect: 409 });
  await call(A, "releaseLegalHold", { key: root, params: demo, expect: 200 });
  await call(A, "deleteProject", { key: root, params: demo, expect: 202 });
  await createKey(A, { label: "keys-only", role: "read_only", project: "keys-only" });
  await call(A, "deleteProject", { key: root, params: { project: "keys-only" }, expect: 202 });
  await call(A, "deleteProject", { key: root, params: { project: "never-was" }, expect: 404 });

  // Backups: one streams (held open, unread) while a second is refused.
  await call(A, "streamBackup", { key: B, expect: 200 });
  // The first stream's job may still be finishing after its last byte reached
  // us: until it has, the held request is itself refused (409); retry, bounded.
  let held;
  for (let attempt = 0; attempt < 50; attempt++) {
    held = await send(A.url, { path: "/v1/admin/backup", headers: { "X-API-Key": root }, hold: true });
    if (held.status !== 409) break;
    held.res.destroy();
    held.req.destroy();
    await new Promise((r) => setTimeout(r, 200));
  }
  if (held.status !== 200) fail(`held backup: ${held.status}`);
  await call(A, "streamBackup", { key: root, expect: 409 });
  held.res.destroy();
  held.req.destroy();
}

// Free space below STEMEDB_MIN_FREE_BYTES: every write gets 507.
async function onFullDisk(B) {
  const root = B.rootKey;
  for (const [id, { op }] of ops) {
    if (!op.responses["507"]) continue;
    await call(B, id, { ...routine(id), key: root, body: writeBody(id), expect: 507 });
  }
  await call(B, "getHealth", { expect: 200 });
  await call(B, "getReadiness", { expect: 200 });
}

function writeBody(id) {
  const a = { subject: "s", predicate: "p", value: 1, agent_id: "a" };
  switch (id) {
    case "createAssertion":
      return a;
    case "createAssertionBatch":
      return { assertions: [a] };
    case "retractAssertion":
      return { id: ZERO_ID };
    case "registerAgentKey":
      return { agent_id: "a", public_key: spki32(generateKeyPairSync("ed25519").publicKey) };
    case "createApiKey":
      return { label: "l", role: "read_only", project: "default" };
    case "createProject":
      return { project: "not-yet-registered" };
    default:
      return ops.get(id).method === "POST" ? {} : undefined;
  }
}

// fdatasync fails (STEMEDB_FAILPOINT): the WAL fail-stops, the probes answer
// 503 with their Health body, and every authenticated route 503.
async function onFailedWal(C) {
  const root = C.rootKey;
  const a = { subject: "s", predicate: "p", value: 1, agent_id: "a" };
  let failed = false;
  for (let i = 0; i < 200 && !failed; i++) {
    const r = await send(C.url, {
      method: "POST",
      path: "/v1/assert?project=default",
      body: JSON.stringify(a),
      headers: { "X-API-Key": root, "Content-Type": "application/json" },
    });
    failed = r.status === 503;
  }
  if (!failed) {
    fail("STEMEDB_FAILPOINT=sync_eio_after=40: no write failed in 200 (not a test build?)");
    return;
  }
  await call(C, "getHealth", { expect: 503 });
  await call(C, "getReadiness", { expect: 503 });
  for (const [id, { op, path }] of ops) {
    // The writes, but those of an existing key (their 404 comes first).
    if (op.responses["507"] && !path.includes("{")) {
      await call(C, id, { ...routine(id), key: root, body: writeBody(id), expect: 503 });
    }
  }
}

async function replaying(server) {
  const r = await send(server.url, { path: "/v1/health" });
  return r.status === 200 && JSON.parse(r.body.toString()).status === "replaying";
}

// A warm standby (docs/backup.md "Warm standby"): a primary archiving to a
// local rclone remote with one base backup there, a standby restored from
// it; promoted (200, and 200 again), while the primary refuses (409).
async function onStandby() {
  const dir = mkdtempSync(join(tmpdir(), "stemedb-openapi-archive-"));
  const env = { RCLONE_CONFIG_CR_TYPE: "local", RCLONE_CONFIG: join(dir, "none.conf"), STEMEDB_ARCHIVE_REMOTE: `cr:${dir}` };
  const P = await startServer(bin, { env });
  let S;
  try {
    const backup = await send(P.url, { path: "/v1/admin/backup", headers: { "X-API-Key": P.rootKey } });
    if (backup.status !== 200) throw new Error(`backup: ${backup.status}`);
    const lsn = /stemedb-backup-(\d+)\.tar/.exec(backup.headers["content-disposition"] ?? "")?.[1];
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    const name = `stemedb-${stamp}-lsn${lsn}.tar`;
    writeFileSync(join(dir, name), backup.body);
    writeFileSync(join(dir, name + ".sha256"), `${createHash("sha256").update(backup.body).digest("hex")}  ${name}\n`);
    S = await startServer(bin, { env: { ...env, STEMEDB_STANDBY: "true", STEMEDB_ROOT_API_KEY: P.rootKey } });
    await call(P, "promoteStandby", { key: P.rootKey, expect: 409 });
    await call(S, "promoteStandby", { key: P.rootKey, expect: 200 });
    await call(S, "promoteStandby", { key: P.rootKey, expect: 200 });
  } finally {
    if (S) await S.stop();
    await P.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// While the store opens, the boot handler (api/app.cc) answers: health 200
// "replaying", metrics 200, everything else 503. STEMEDB_FAILPOINT's
// sync_delay_ms holds the opening WAL's fsyncs, so the window lasts seconds;
// a round counts only if the server was still replaying after its last
// request (else it is retried with a longer delay: no timing decides a pass).
async function onBooting() {
  for (let delay = 3000; delay <= 12000; delay *= 2) {
    const env = { STEMEDB_FAILPOINT: `sync_delay_ms=${delay}` };
    const D = await startServer(bin, { env, ready: false });
    try {
      if (!(await replaying(D))) continue;
      tentative = { failures: [], seen: [] };
      const round = [
        call(D, "getHealth", { expect: 200 }),
        call(D, "getMetrics", { expect: 200 }),
        call(D, "getReadiness", { expect: 503 }),
        call(D, "getOpenApiDocument", { expect: 503 }),
      ];
      for (const [id, { op }] of ops) {
        if (isPublic(op)) continue;
        round.push(call(D, id, { ...routine(id), key: D.rootKey, body: writeBody(id), expect: 503 }));
      }
      await Promise.all(round);
      const { failures: f, seen: s } = tentative;
      tentative = null;
      if (!(await replaying(D))) continue;
      for (const what of f) fail(what);
      for (const [id, status] of s) {
        if (!seen.has(id)) seen.set(id, new Set());
        seen.get(id).add(status);
      }
      return;
    } finally {
      tentative = null;
      await D.stop();
    }
  }
  fail("no round of requests fit in the boot window (sync_delay_ms up to 12000)");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
