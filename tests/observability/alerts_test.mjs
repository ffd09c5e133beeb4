// The alert rules (k3s/base/prometheusrule.yaml) and the Grafana dashboard
// (k3s/monitoring/stemedb-dashboard.json) evaluated by a real Prometheus
// (Debian's `prometheus`, on loopback, scrape and evaluation every 1 s)
// scraping the real `stemedb` test build. docs/operations.md lists every
// alert with the scenario below that proves it.
//
// The rules are loaded as shipped (spec.groups) with one change: every `for:`
// becomes FOR (3 s), so a condition held for seconds goes pending, then
// firing. Expressions, thresholds and range windows are unchanged.
//
// Scenarios, one after the other, each waiting (bounded) for its alert to be
// pending, then firing, then gone:
//   disk floor       a tmpfs data volume filled below 512 MiB -> StemeDBVolumeCritical,
//                    below STEMEDB_MIN_FREE_BYTES -> writes 507 -> StemeDBHigh5xxRate
//                    (needs root to mount; skipped with a message otherwise)
//   fsync slowness   STEMEDB_FAILPOINT=sync_delay_ms,sync_delay_count (test build):
//                    40 slow fsyncs -> StemeDBWalFsyncSlow; it (and the 5xx alert)
//                    resolve once later fast writes dilute the slow fsyncs (the
//                    507s) in their 5 min windows
//   write load       writers in three projects + a 429 storm on a key limited to
//                    1/s: every dashboard query returns data, StemeDBRateLimitSaturated
//                    fires (its 10 min window outlasts this test: not waited out)
//   near quota       project `quota` at 19 of max_assertions 20 -> StemeDBProjectNearQuota;
//                    the limit raised resolves it
//   server killed    SIGKILL -> StemeDBTargetDown; restart resolves it
//   no target        the target's endpoints gone (file_sd emptied) -> StemeDBTargetMissing
//   archive behind   STEMEDB_ARCHIVE_REMOTE below a regular file: uploads fail, the
//                    lag passes 60 s -> StemeDBWalArchiveLagging; the file removed,
//                    the archiver's retry catches up -> resolved
//   kube-state-metrics / kubelet series (pods, PVC stats, backup Jobs): a cluster
//                    is not available here; the test serves those series itself in
//                    kube-state-metrics' format (synthetic, labelled as such) and
//                    drives each rule: backup stale / failed / never succeeded, pod
//                    not running / not ready / crash-looping / OOM-killed, PVC low /
//                    filling up / critical.
// Every alert that fires is listed at the end; an alert firing outside its
// scenario (pending is only noted), or one that never fires, fails the test. No timing assertions:
// every wait is bounded and fails with what was seen.
//
// Usage: node alerts_test.mjs --server PATH/stemedb [--export DIR]
//   --export DIR writes the dashboard's panels over the run as gnuplot data
//   (scripts/render-dashboard.sh turns them into docs/images/dashboard.png).
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { freePort } from "../util/free_port.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
// The YAML parser tests/k3s already pins (k3s_npm_ci installs it).
const YAML = createRequire(path.join(repo, "tests/k3s/package.json"))("yaml");

const FOR = "3s";
const NS = "stemedb";
const MiB = 1024 * 1024;
const WAIT_MS = 60000; // bound of every wait for an alert state

const args = process.argv.slice(2);
const argOf = (flag) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
const serverBin = argOf("--server");
const exportDir = argOf("--export");

const t0 = Date.now();
const log = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}`);
function fail(msg) {
  console.error(`FAIL ${msg}`);
  cleanup();
  process.exit(1);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- processes and scratch space --------------------------------------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-obs-"));
const children = new Set();
let tmpfsMounted = false;

function cleanup() {
  for (const c of children) c.kill("SIGKILL");
  if (tmpfsMounted) {
    try {
      execFileSync("umount", ["-l", path.join(tmp, "vol")], { stdio: "ignore" });
    } catch {}
  }
  if (!process.env.STEMEDB_E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  else console.log(`kept ${tmp}`);
}
process.on("SIGINT", () => fail("interrupted"));
process.on("SIGTERM", () => fail("terminated"));

if (!serverBin) fail("usage: alerts_test.mjs --server PATH/stemedb [--export DIR]");
for (const tool of ["prometheus", "promtool"])
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
  } catch {
    fail(`${tool} not found: install Debian's prometheus package (scripts/install-deps.sh)`);
  }

// Children die with this process (PR_SET_PDEATHSIG via setpriv) even if it is
// SIGKILLed by a ctest timeout.
function start(cmd, argv, env, logName) {
  const out = fs.openSync(path.join(tmp, logName), "a");
  const c = spawn("setpriv", ["--pdeathsig", "KILL", "--", cmd, ...argv], { env, stdio: ["ignore", out, out] });
  fs.closeSync(out);
  children.add(c);
  c.exited = new Promise((r) => c.on("exit", (code, sig) => (children.delete(c), r(sig ?? code))));
  return c;
}
const tail = (logName, n = 15) => fs.readFileSync(path.join(tmp, logName), "utf8").split("\n").slice(-n).join("\n");


async function waitFor(what, fn, ms = WAIT_MS) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    await sleep(250);
  }
  fail(`timed out after ${ms / 1000} s waiting for ${what} (last: ${JSON.stringify(last)})`);
}

// ---- the server -------------------------------------------------------------

const rootKey = "steme_live_" + [...crypto.getRandomValues(new Uint8Array(24))].map((b) => b.toString(16).padStart(2, "0")).join("");
const server = { port: await freePort(), proc: null, failpoint: "" };
const base = () => `http://127.0.0.1:${server.port}`;

// Tries to give the data its own small tmpfs (the disk-floor scenario).
let dataDir = path.join(tmp, "vol");
fs.mkdirSync(dataDir);
let diskSkip = "";
try {
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=768m", "tmpfs", dataDir], { stdio: "pipe" });
  tmpfsMounted = true;
} catch (e) {
  diskSkip = `cannot mount a tmpfs (${String(e.stderr || e.message).trim()}; needs root)`;
}
dataDir = path.join(dataDir, "data");

async function startServer() {
  const env = {
    PATH: process.env.PATH,
    STEMEDB_BIND_ADDR: `127.0.0.1:${server.port}`,
    STEMEDB_DATA_DIR: dataDir,
    STEMEDB_ROOT_API_KEY: rootKey,
    // Only the storm key is limited (its own rate_limit).
    STEMEDB_RATE_LIMIT: "1000000/s,1000000",
  };
  if (server.failpoint) env.STEMEDB_FAILPOINT = server.failpoint;
  if (server.archiveRemote) env.STEMEDB_ARCHIVE_REMOTE = server.archiveRemote;
  server.proc = start(serverBin, [], env, "stemedb.log");
  await waitFor("stemedb /v1/ready", async () => {
    if (server.proc.exitCode !== null) fail(`stemedb exited: ${tail("stemedb.log")}`);
    return (await fetch(base() + "/v1/ready")).status === 200;
  });
}
async function stopServer(signal = "SIGTERM") {
  server.proc.kill(signal);
  await server.proc.exited;
}

async function api(method, p, key, body) {
  const r = await fetch(base() + p, {
    method,
    headers: { "X-API-Key": key, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, json: text.startsWith("{") ? JSON.parse(text) : text };
}
async function createKey(project, rateLimit) {
  const r = await api("POST", "/v1/admin/api-keys", rootKey, { label: `obs-${project}`, role: "write_agent", project, ...(rateLimit ? { rate_limit: rateLimit } : {}) });
  if (r.status !== 201) fail(`creating a key for ${project}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.key;
}

// `conns` loops writing single assertions (pausing `pauseMs` after each)
// until `until()` or `max` writes; returns the replies by status.
async function writeLoad(key, { conns = 4, max = 1e9, until = () => false, ms = 30000, pauseMs = 0 } = {}) {
  const statuses = {};
  let n = 0;
  const end = Date.now() + ms;
  const worker = async (w) => {
    while (n < max && Date.now() < end && !until()) {
      n++;
      const i = n;
      let status;
      try {
        const r = await fetch(base() + "/v1/assert", {
          method: "POST",
          headers: { "X-API-Key": key, "Content-Type": "application/json" },
          body: JSON.stringify({ subject: `s${i % 97}`, predicate: "p", value: `v${i}`, agent_id: `w${w}` }),
        });
        await r.arrayBuffer();
        status = r.status;
      } catch {
        status = "error";
      }
      statuses[status] = (statuses[status] || 0) + 1;
      if (pauseMs) await sleep(pauseMs);
    }
  };
  await Promise.all(Array.from({ length: conns }, (_, w) => worker(w)));
  return statuses;
}

// ---- synthetic kube-state-metrics / kubelet series ----------------------------

const nowS = () => Math.floor(Date.now() / 1000);
const pod = { namespace: NS, pod: "stemedb-api-7d9f-abcde", container: "stemedb" };
// The healthy cluster; scenarios change a copy and put it back.
const healthyKsm = () => ({
  phaseRunning: 1,
  ready: 1,
  crashLoopBackOff: 0,
  restarts: 0,
  oomKilled: 0,
  backupJobFailed: 0,
  lastBackup: nowS() - 3600,
  cronjobCreated: nowS() - 30 * 86400,
  walAvail: 8e9,
  dbAvail: 8e9,
});
let ksm;
function ksmText() {
  const l = (o) => "{" + Object.entries(o).map(([k, v]) => `${k}="${v}"`).join(",") + "}";
  const lines = [
    `kube_pod_status_phase${l({ namespace: NS, pod: pod.pod, phase: "Running" })} ${ksm.phaseRunning}`,
    `kube_pod_status_phase${l({ namespace: NS, pod: pod.pod, phase: "Pending" })} ${1 - ksm.phaseRunning}`,
    `kube_pod_container_status_ready${l(pod)} ${ksm.ready}`,
    `kube_pod_container_status_waiting_reason${l({ ...pod, reason: "CrashLoopBackOff" })} ${ksm.crashLoopBackOff}`,
    `kube_pod_container_status_restarts_total${l(pod)} ${ksm.restarts}`,
    `kube_pod_container_status_last_terminated_reason${l({ ...pod, reason: "OOMKilled" })} ${ksm.oomKilled}`,
    `kube_job_status_failed${l({ namespace: NS, job_name: "stemedb-backup-29410577" })} ${ksm.backupJobFailed}`,
    `kube_cronjob_created${l({ namespace: NS, cronjob: "stemedb-backup" })} ${ksm.cronjobCreated}`,
  ];
  if (ksm.lastBackup !== null) lines.push(`kube_cronjob_status_last_successful_time${l({ namespace: NS, cronjob: "stemedb-backup" })} ${ksm.lastBackup}`);
  for (const [pvc, avail] of [["stemedb-wal", ksm.walAvail], ["stemedb-db", ksm.dbAvail]]) {
    lines.push(`kubelet_volume_stats_available_bytes${l({ namespace: NS, persistentvolumeclaim: pvc })} ${avail}`);
    lines.push(`kubelet_volume_stats_capacity_bytes${l({ namespace: NS, persistentvolumeclaim: pvc })} 1e10`);
  }
  return lines.join("\n") + "\n";
}
// Served by a process of its own, so the write load of this one never makes
// a scrape of it time out (stale series would read as "no pod running").
const ksmFile = path.join(tmp, "kube-state-metrics.prom");
function setKsm(state) {
  ksm = state;
  fs.writeFileSync(ksmFile + ".new", ksmText());
  fs.renameSync(ksmFile + ".new", ksmFile);
}
setKsm(healthyKsm());
const ksmPort = await freePort();
const ksmServe = `require("http").createServer((q, r) => {
  r.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
  r.end(require("fs").readFileSync(process.argv[2]));
}).listen(Number(process.argv[1]), "127.0.0.1");`;
start(process.execPath, ["-e", ksmServe, String(ksmPort), ksmFile], { PATH: process.env.PATH }, "kube-state-metrics.log");

// ---- Prometheus -------------------------------------------------------------

const promPort = await freePort();
const prom = (p) => `http://127.0.0.1:${promPort}${p}`;
const ruleDoc = YAML.parse(fs.readFileSync(path.join(repo, "k3s/base/prometheusrule.yaml"), "utf8"));
const groups = ruleDoc.spec.groups.map((g) => ({ ...g, rules: g.rules.map((r) => (r.for ? { ...r, for: FOR } : r)) }));
const allAlerts = groups.flatMap((g) => g.rules.map((r) => r.alert));
fs.writeFileSync(path.join(tmp, "rules.yaml"), YAML.stringify({ groups }));
execFileSync("promtool", ["check", "rules", path.join(tmp, "rules.yaml")], { stdio: "pipe" });

// The server's target comes from a file (file_sd), as it comes from the
// Service's endpoints in a cluster: an empty file is "no endpoints", and
// Prometheus marks the series stale at once (removing the job from the
// config instead would keep them for the 5 min lookback).
const targetsFile = path.join(tmp, "stemedb-targets.json");
function setServerTarget(present) {
  const groups = present ? [{ targets: [`127.0.0.1:${server.port}`], labels: { namespace: NS, pod: pod.pod } }] : [];
  fs.writeFileSync(targetsFile + ".new", JSON.stringify(groups));
  fs.renameSync(targetsFile + ".new", targetsFile);
}
setServerTarget(true);
const promConfig = {
  global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
  rule_files: [path.join(tmp, "rules.yaml")],
  scrape_configs: [
    { job_name: "stemedb-api", file_sd_configs: [{ files: [targetsFile], refresh_interval: "1s" }] },
    { job_name: "kube-state-metrics", honor_labels: true, static_configs: [{ targets: [`127.0.0.1:${ksmPort}`] }] },
  ],
};
fs.writeFileSync(path.join(tmp, "prometheus.yml"), YAML.stringify(promConfig));
async function promGet(p) {
  const r = await fetch(prom(p));
  const j = await r.json();
  if (j.status !== "success") throw new Error(`${p}: ${JSON.stringify(j)}`);
  return j.data;
}
const query = (q, time) => promGet(`/api/v1/query?query=${encodeURIComponent(q)}${time ? `&time=${time}` : ""}`);

// ---- alert tracking -----------------------------------------------------------

// alertname -> {pending: first seen (s), firing: first seen (s), labels} of
// its current occurrence; `fired` keeps every alert that fired and resolved.
const seen = {};
const fired = new Set();
let expected = new Set(); // alerts the current scenario may raise
const strays = [];
let polling = true;
async function pollAlerts() {
  while (polling) {
    try {
      const { alerts } = await promGet("/api/v1/alerts");
      const active = new Map();
      for (const a of alerts) {
        const name = a.labels.alertname;
        active.set(name, a.state);
        const s = (seen[name] ??= { labels: a.labels });
        if (!s[a.state]) s[a.state] = (Date.now() - t0) / 1000;
        // A pending alert outside its scenario (up == 0 for one scrape while
        // the test restarts the server) is what `for:` is there to absorb.
        if (!expected.has(name) && !strays.some((x) => x.name === name && x.state === a.state))
          strays.push({ name, state: a.state, at: ((Date.now() - t0) / 1000).toFixed(1), labels: a.labels });
      }
      pollAlerts.active = active;
    } catch {}
    await sleep(200);
  }
}
pollAlerts.active = new Map();

// Waits until every alert in `names` has been pending (if it has a `for`)
// and then firing.
async function expectFiring(names, filter = () => true, ms = WAIT_MS) {
  for (const name of names) {
    await waitFor(`${name} firing`, async () => {
      const { alerts } = await promGet("/api/v1/alerts");
      return alerts.some((a) => a.labels.alertname === name && a.state === "firing" && filter(a));
    }, ms);
    seen[name] ??= {};
    seen[name].firing ??= (Date.now() - t0) / 1000;
    const rule = groups.flatMap((g) => g.rules).find((r) => r.alert === name);
    if (rule.for && !seen[name]?.pending) fail(`${name} fired without being seen pending first`);
    log(`  ${name}: pending at ${seen[name].pending ?? "-"} s, firing at ${seen[name].firing} s`);
  }
}
async function expectResolved(names, ms = WAIT_MS) {
  for (const name of names) {
    await waitFor(`${name} resolved`, async () => {
      const { alerts } = await promGet("/api/v1/alerts");
      return !alerts.some((a) => a.labels.alertname === name);
    }, ms);
    log(`  ${name}: resolved at ${((Date.now() - t0) / 1000).toFixed(3)} s`);
    fired.add(name);
    delete seen[name];
  }
}
async function quiet(what) {
  const { alerts } = await promGet("/api/v1/alerts");
  if (alerts.length) fail(`${what}: alerts active: ${alerts.map((a) => `${a.labels.alertname} (${a.state})`).join(", ")}`);
}

// ---- dashboard ------------------------------------------------------------------

const dashboard = JSON.parse(fs.readFileSync(path.join(repo, "k3s/monitoring/stemedb-dashboard.json"), "utf8"));
const panels = dashboard.panels.filter((p) => p.targets?.length);
// Grafana's variables as a Prometheus with a 1 s scrape interval sees them.
const grafanaExpr = (e) => e.replaceAll("$namespace", NS).replaceAll("$__rate_interval", "10s");
const finite = (v) => Number.isFinite(Number(v[1]));

async function checkDashboard(what) {
  const empty = [];
  for (const p of panels)
    for (const t of p.targets) {
      const r = await query(grafanaExpr(t.expr));
      if (!r.result.some((s) => finite(s.value))) empty.push(`"${p.title}" ${t.refId}: ${t.expr}`);
    }
  if (empty.length) fail(`${what}: dashboard queries without data:\n  ${empty.join("\n  ")}`);
  log(`  dashboard: all ${panels.reduce((n, p) => n + p.targets.length, 0)} queries of ${panels.length} panels return data`);
}

// ---- run ------------------------------------------------------------------------

log(`tmp ${tmp}; stemedb :${server.port}, prometheus :${promPort}, synthetic kube-state-metrics :${ksmPort}`);
await startServer();
const promProc = start(
  "prometheus",
  [
    `--config.file=${path.join(tmp, "prometheus.yml")}`,
    `--storage.tsdb.path=${path.join(tmp, "tsdb")}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    "--log.level=warn",
  ],
  { PATH: process.env.PATH },
  "prometheus.log",
);
await waitFor("Prometheus ready", async () => {
  if (promProc.exitCode !== null) fail(`prometheus exited: ${tail("prometheus.log")}`);
  return (await fetch(prom("/-/ready"))).status === 200;
});
const targetsUp = async () => {
  const r = await query('up{job=~"stemedb-api|kube-state-metrics"} == 1');
  return r.result.length === 2;
};
await waitFor("both targets up", targetsUp);
// Until the first scrapes, "no Running pod" and "not ready" are true (no
// series at all): wait for their pending states to clear first.
await waitFor("no alert pending before the baseline", async () => (await promGet("/api/v1/alerts")).alerts.length === 0);
pollAlerts();

// A healthy server and cluster raise nothing.
await sleep(6000);
await quiet("healthy baseline");
log("baseline: no alert pending or firing");

// 1. the disk floor on the tmpfs.
const fill = path.join(tmp, "vol", "fill");
if (diskSkip) log(`SKIP disk floor: ${diskSkip}`);
else {
  log("scenario: disk floor (tmpfs of 768 MiB)");
  const free = () => Number(fs.statfsSync(dataDir).bavail) * Number(fs.statfsSync(dataDir).bsize);
  if (free() < 600 * MiB) fail(`tmpfs has only ${free() / MiB} MiB free before the fill`);
  const fillTo = (left) => execFileSync("fallocate", ["-l", String(Math.max(0, free() + (fs.existsSync(fill) ? fs.statSync(fill).size : 0) - left)), fill]);
  const key = await createKey("diskfloor"); // a write itself: before the floor
  expected = new Set(["StemeDBVolumeCritical"]);
  fillTo(400 * MiB);
  await expectFiring(["StemeDBVolumeCritical"]);
  // Below STEMEDB_MIN_FREE_BYTES (256 MiB) writes get 507.
  expected = new Set(["StemeDBVolumeCritical", "StemeDBHigh5xxRate"]);
  fillTo(128 * MiB);
  await waitFor("writes refused with 507", async () => (await writeLoad(key, { conns: 1, max: 1 }))[507] === 1);
  // Spread over several scrapes: rate() counts no increase in the sample
  // that first shows a new series (status="507").
  let firing = false;
  const refused = writeLoad(key, { conns: 1, until: () => firing, pauseMs: 20, ms: WAIT_MS });
  await expectFiring(["StemeDBHigh5xxRate"]);
  firing = true;
  log(`  writes below the floor: ${JSON.stringify(await refused)}`);
  fs.rmSync(fill);
  await expectResolved(["StemeDBVolumeCritical"]);
  if (!(await writeLoad(key, { conns: 1, max: 1 }))[201]) fail("writes did not resume after the space came back");
}

// 2. fsync slowness through the test build's failpoint: the first 40 WAL
// syncs of a fresh process take 150 ms each, the rest are fast. The same
// process serves the fast writes after, so the slow syncs stay in the
// 5 min window (a restart whose new counters pass the old ones before the
// first scrape would hide them: Prometheus sees no reset).
{
  log("scenario: slow WAL fsync (STEMEDB_FAILPOINT=sync_delay_ms=150,sync_delay_count=40)");
  expected = new Set(["StemeDBWalFsyncSlow", "StemeDBHigh5xxRate"]);
  await stopServer();
  server.failpoint = "sync_delay_ms=150,sync_delay_count=40,path_contains=.wal";
  await startServer();
  server.failpoint = ""; // later restarts are healthy
  const key = await createKey("fsync");
  log(`  writes during slow fsync: ${JSON.stringify(await writeLoad(key, { conns: 1, max: 40 }))}`);
  await expectFiring(["StemeDBWalFsyncSlow"]);
  // Fast fsyncs dilute the slow ones below 1 % of the 5 min window (and the
  // 507s of the disk floor below 5 % of the requests).
  let resolved = false;
  const fast = writeLoad(key, { conns: 2, until: () => resolved, ms: 2 * WAIT_MS });
  await expectResolved(["StemeDBWalFsyncSlow", ...(diskSkip ? [] : ["StemeDBHigh5xxRate"])]);
  resolved = true;
  log(`  writes to resolve: ${JSON.stringify(await fast)}`);
}

// 3. write load in three projects with a 429 storm: the dashboard under load.
let loadSpan;
{
  log("scenario: write load (projects alpha, beta, gamma) + 429 storm (project storm, 1/s)");
  expected = new Set(["StemeDBRateLimitSaturated"]);
  const keys = await Promise.all(["alpha", "beta", "gamma"].map((p) => createKey(p)));
  const storm = await createKey("storm", "1/s,1");
  const from = nowS();
  let done = false;
  const loads = keys.map((k, i) => writeLoad(k, { conns: [3, 2, 1][i], until: () => done, ms: WAIT_MS }));
  // > 5/s over 10 min = more than 3000 refusals in the window after the
  // sample that first shows the project's series.
  let stormDone = false;
  const storming = writeLoad(storm, { conns: 4, until: () => stormDone, ms: WAIT_MS });
  await sleep(12000);
  await checkDashboard("under load");
  await expectFiring(["StemeDBRateLimitSaturated"], (a) => a.labels.project === "storm");
  stormDone = done = true;
  const results = await Promise.all([...loads, storming]);
  log(`  alpha/beta/gamma/storm replies: ${results.map((r) => JSON.stringify(r)).join(" ")}`);
  if (!(results[3][429] > 3000)) fail(`the storm got only ${results[3][429]} 429s`);
  loadSpan = [from, nowS()];
}

// 3b. a project near its quota: 19 of 20 assertions, then the limit raised.
{
  log("scenario: project near its quota (project quota, 19 of max_assertions 20)");
  expected = new Set(["StemeDBRateLimitSaturated", "StemeDBProjectNearQuota"]);
  const created = await api("POST", "/v1/admin/projects", rootKey, { project: "quota", max_assertions: 20 });
  if (created.status !== 201) fail(`creating project quota: ${created.status} ${JSON.stringify(created.json)}`);
  const key = await createKey("quota");
  const wrote = await writeLoad(key, { conns: 1, max: 19 });
  if (wrote[201] !== 19) fail(`project quota: ${JSON.stringify(wrote)}`);
  await expectFiring(["StemeDBProjectNearQuota"], (a) => a.labels.project === "quota");
  const raised = await api("PATCH", "/v1/admin/projects/quota", rootKey, { max_assertions: 1000 });
  if (raised.status !== 200) fail(`raising the quota: ${raised.status} ${JSON.stringify(raised.json)}`);
  await expectResolved(["StemeDBProjectNearQuota"]);
}

// 4. the server killed.
{
  log("scenario: server killed (SIGKILL)");
  expected = new Set(["StemeDBRateLimitSaturated", "StemeDBTargetDown"]);
  await stopServer("SIGKILL");
  await expectFiring(["StemeDBTargetDown"]);
  await startServer();
  await expectResolved(["StemeDBTargetDown"]);
}

// 5. no scrape target at all.
{
  log("scenario: scrape target missing (no endpoints: the target file emptied)");
  expected = new Set(["StemeDBRateLimitSaturated", "StemeDBTargetMissing"]);
  setServerTarget(false);
  await expectFiring(["StemeDBTargetMissing"]);
  setServerTarget(true);
  await expectResolved(["StemeDBTargetMissing"]);
}

// 6. the WAL archive falling behind: its remote is a path below a regular
// file, so every upload fails and the oldest unarchived record ages. The
// lag must pass 60 s (the rule's threshold): the synthetic scenarios run
// meanwhile.
const archiveBlock = path.join(tmp, "archive");
{
  log("scenario: WAL archive behind (STEMEDB_ARCHIVE_REMOTE unwritable), with the synthetic ones below");
  fs.writeFileSync(archiveBlock, "");
  await stopServer();
  server.archiveRemote = `:local:${archiveBlock}/remote`;
  await startServer();
  const key = await createKey("archive");
  const w = await writeLoad(key, { conns: 1, max: 5 });
  if (w[201] !== 5) fail(`writes with a failing archive: ${JSON.stringify(w)}`);
}

// 7. kube-state-metrics / kubelet rules on synthetic series.
const ksmScenarios = [
  ["backup stale (last success 27 h ago)", { lastBackup: nowS() - 27 * 3600 }, ["StemeDBBackupMissing"]],
  ["backup job failed", { backupJobFailed: 1 }, ["StemeDBBackupFailed"]],
  ["backup never succeeded (CronJob 8 h old)", { lastBackup: null, cronjobCreated: nowS() - 8 * 3600 }, ["StemeDBBackupNeverSucceeded"]],
  ["pod not Running", { phaseRunning: 0 }, ["StemeDBPodNotRunning"]],
  ["container not ready", { ready: 0 }, ["StemeDBNotReady"]],
  ["CrashLoopBackOff", { crashLoopBackOff: 1 }, ["StemeDBCrashLooping"]],
  ["OOM-killed and restarted", { oomKilled: 1, restarts: 1 }, ["StemeDBOOMKilled"]],
  ["PVC stemedb-db at 10 % free, falling", { dbAvail: 1e9 }, ["StemeDBVolumeLow", "StemeDBVolumeFillingUp"]],
  ["PVC stemedb-db at 3 % free", { dbAvail: 3e8 }, ["StemeDBVolumeLow", "StemeDBVolumeFillingUp", "StemeDBVolumeCritical"]],
];
for (const [what, change, alerts] of ksmScenarios) {
  log(`scenario (synthetic kube-state-metrics/kubelet series): ${what}`);
  expected = new Set(["StemeDBRateLimitSaturated", "StemeDBWalArchiveLagging", ...alerts]);
  const restarts = ksm.restarts;
  setKsm({ ...healthyKsm(), restarts, ...change });
  await expectFiring(alerts);
  setKsm({ ...healthyKsm(), restarts: ksm.restarts });
  await expectResolved(alerts);
}

{
  await expectFiring(["StemeDBWalArchiveLagging"], () => true, 2 * WAIT_MS);
  fs.rmSync(archiveBlock); // the remote's directory can be made: the next retry uploads
  await expectResolved(["StemeDBWalArchiveLagging"], 2 * WAIT_MS);
}

polling = false;
await sleep(300);
// The 429 storm's alert stays until its 10 min window has slid past.
const everFired = (a) => fired.has(a) || seen[a]?.firing;
const neverFired = allAlerts.filter((a) => !everFired(a));
if (neverFired.length && !(diskSkip && neverFired.every((a) => a === "StemeDBHigh5xxRate")))
  fail(`alerts never fired: ${neverFired.join(", ")} (a new rule needs a scenario here and a row in docs/operations.md)`);
const describe = (list) => list.map((s) => `${s.name} (${s.state} at ${s.at} s, ${JSON.stringify(s.labels)})`).join("; ");
const firingStrays = strays.filter((s) => s.state === "firing");
if (firingStrays.length) fail(`alerts firing outside their scenario: ${describe(firingStrays)}`);
if (strays.length) log(`note: pending (never firing) outside their scenario: ${describe(strays)}`);

// ---- export for scripts/render-dashboard.sh ---------------------------------------

if (exportDir) {
  await sleep(3000); // the last scrapes (the archive caught up) into the range
  fs.mkdirSync(exportDir, { recursive: true });
  const [from, to] = [Math.floor(t0 / 1000), nowS()];
  const manifest = [];
  for (const p of panels)
    for (const t of p.targets) {
      const q = grafanaExpr(t.expr);
      const r = await promGet(`/api/v1/query_range?query=${encodeURIComponent(q)}&start=${from}&end=${to}&step=1`);
      r.result.forEach((s, i) => {
        if (!s.values.some(finite)) return;
        const legend = (t.legendFormat || "").replace(/\{\{(\w+)\}\}/g, (_, k) => s.metric[k] ?? "");
        const file = `p${p.id}_${t.refId}_${i}.dat`;
        fs.writeFileSync(path.join(exportDir, file), s.values.filter(finite).map(([ts, v]) => `${ts - from} ${v}`).join("\n") + "\n");
        manifest.push([p.id, p.title, t.refId, legend, file].join("\t"));
      });
    }
  fs.writeFileSync(path.join(exportDir, "manifest.tsv"), manifest.join("\n") + "\n");
  log(`exported ${manifest.length} series to ${exportDir} (load from ${loadSpan[0] - from} s to ${loadSpan[1] - from} s)`);
}

const firedList = allAlerts.filter(everFired);
console.log(`alerts fired (${firedList.length}/${allAlerts.length}): ${firedList.join(", ")}`);
if (diskSkip) console.log(`SKIPPED disk floor: ${diskSkip}`);
console.log(`operations_prometheus: passed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
cleanup();
process.exit(0);
