// Renders every kustomization under k3s/ with `kubectl kustomize` (the app
// base and overlays, the data kustomizations, the one-off Jobs), then checks:
//  1. schema: every object against the schema of a CURRENT release of its
//     API (SCHEMAS below names each release); an apiVersion an operator no
//     longer serves (RETIRED) or an unknown kind fails;
//  2. unknown fields: every object is type-checked by tsc as a literal of the
//     model's interface (vendored CRD schemas: additionalProperties closed),
//     so a field the API does not define is an error;
//  3. policy (the deployment contract, k3s/README.md): see checkPolicies.
// `--self-test` then breaks the rendered prod objects one way at a time and
// requires each break to be caught (a check that cannot fail is a defect).
//
// Usage: node validate.mjs [--self-test] [--dump DIR]   (run from anywhere)
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import Ajv from "ajv";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const NAMESPACE = "stemedb";
const PORT = 18180;
const UID = 1000;

// What each environment renders. The app never contains the data (namespace,
// StorageClass, PVCs): `kubectl delete -k` of the app must leave the data.
export const ENVIRONMENTS = {
  base: { app: "k3s/base", data: "k3s/data/base" },
  dev: {
    app: "k3s/overlays/dev",
    data: "k3s/data/dev",
    restore: "k3s/overlays/dev/jobs/restore",
    smoke: "k3s/overlays/dev/jobs/smoke",
  },
  prod: {
    app: "k3s/overlays/prod",
    data: "k3s/data/prod",
    restore: "k3s/overlays/prod/jobs/restore",
    smoke: "k3s/overlays/prod/jobs/smoke",
  },
};

// apiVersion -> its schema and the release that schema is from. `pkg` is
// checked against the installed package (package-lock.json), so this table
// cannot silently drift from what is validated. tests/k3s/README.md lists
// the same and how to update.
export const SCHEMAS = {
  v1: { module: "kubernetes-models/v1", pkg: "kubernetes-models@5.1.0", release: "Kubernetes 1.36.0" },
  "apps/v1": { module: "kubernetes-models/apps/v1", pkg: "kubernetes-models@5.1.0", release: "Kubernetes 1.36.0" },
  "batch/v1": { module: "kubernetes-models/batch/v1", pkg: "kubernetes-models@5.1.0", release: "Kubernetes 1.36.0" },
  "policy/v1": { module: "kubernetes-models/policy/v1", pkg: "kubernetes-models@5.1.0", release: "Kubernetes 1.36.0" },
  "networking.k8s.io/v1": {
    module: "kubernetes-models/networking.k8s.io/v1",
    pkg: "kubernetes-models@5.1.0",
    release: "Kubernetes 1.36.0",
  },
  "storage.k8s.io/v1": {
    module: "kubernetes-models/storage.k8s.io/v1",
    pkg: "kubernetes-models@5.1.0",
    release: "Kubernetes 1.36.0",
  },
  "traefik.io/v1alpha1": {
    module: "@kubernetes-models/traefik/traefik.io/v1alpha1",
    pkg: "@kubernetes-models/traefik@2.0.0",
    release: "Traefik v3.7.1",
  },
  "cert-manager.io/v1": {
    module: "@kubernetes-models/cert-manager/cert-manager.io/v1",
    pkg: "@kubernetes-models/cert-manager@6.0.0",
    release: "cert-manager v1.20.2",
  },
  "monitoring.coreos.com/v1": {
    module: "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
    pkg: "@kubernetes-models/prometheus-operator@6.0.0",
    release: "prometheus-operator v0.91.0",
  },
  // npm's newest external-secrets models (@kubernetes-models/external-secrets
  // 2.0.0) are generated from external-secrets v0.16.2; the CRD's own schema
  // of a current release is vendored instead.
  "external-secrets.io/v1": {
    crds: { ExternalSecret: "crds/external-secrets.io_v1_ExternalSecret.json" },
    release: "external-secrets v2.9.0",
  },
};
// apiVersions the current releases no longer serve.
export const RETIRED = {
  "external-secrets.io/v1beta1": "not served since external-secrets v0.17: use external-secrets.io/v1",
  "external-secrets.io/v1alpha1": "not served by current external-secrets: use external-secrets.io/v1",
  "traefik.containo.us/v1alpha1": "removed in Traefik v3: use traefik.io/v1alpha1",
  "cert-manager.io/v1beta1": "removed in cert-manager 1.6: use cert-manager.io/v1",
  "networking.k8s.io/v1beta1": "removed in Kubernetes 1.22",
  "policy/v1beta1": "removed in Kubernetes 1.25",
  "batch/v1beta1": "removed in Kubernetes 1.25",
};
const CLUSTER_SCOPED = new Set(["Namespace", "StorageClass", "PersistentVolume", "ClusterIssuer", "ClusterSecretStore"]);
const DATA_KINDS = new Set(["Namespace", "StorageClass", "PersistentVolumeClaim", "PersistentVolume"]);

// Variables that are not server settings but are documented elsewhere:
// stemectl reads STEMEDB_ADMIN_KEY and STEMEDB_URL (docs/stemectl.md).
const STEMECTL_VARS = new Set(["STEMEDB_ADMIN_KEY", "STEMEDB_URL"]);
const JOB_EXTRA_VARS = new Set(["BACKUP_REMOTE", "BACKUP_NAME", "HOME", "XDG_CACHE_HOME"]);

// In-cluster peers the NetworkPolicies must admit (k3s defaults; README).
const TRAEFIK = { ns: "kube-system", labels: { "app.kubernetes.io/name": "traefik" } };
const PROMETHEUS = { ns: "monitoring", labels: { "app.kubernetes.io/name": "prometheus" } };
const ACME_SOLVER_LABEL = "acme.cert-manager.io/http01-solver";
const ACME_SOLVER_PORT = 8089; // cert-manager's HTTP-01 solver pod
const DIGEST_IMAGE = /@sha256:[0-9a-f]{64}$/;

function fail(msg) {
  console.error(`validate: ${msg}`);
  process.exit(1);
}

export function render(dir) {
  let out;
  try {
    out = execFileSync("kubectl", ["kustomize", path.join(repo, dir)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    fail(`kubectl kustomize ${dir} failed: ${e.stderr || e.message}`);
  }
  return YAML.parseAllDocuments(out).map((d) => {
    if (d.errors.length) fail(`${dir}: YAML error ${d.errors[0].message}`);
    return d.toJS();
  });
}

export function renderEnvironment(label) {
  const dirs = ENVIRONMENTS[label];
  return Object.fromEntries(Object.entries(dirs).map(([part, dir]) => [part, render(dir)]));
}

// ---- contract sources (all in this repository) -----------------------------

const readRepo = (p) => fs.readFileSync(path.join(repo, p), "utf8");

// The server's own table of settings (api/config.cc), name -> default.
function serverVariables() {
  const vars = new Map();
  for (const m of readRepo("api/config.cc").matchAll(/\{"(STEMEDB_[A-Z0-9_]+)",\s*"([^"]*)"/g)) vars.set(m[1], m[2]);
  if (vars.size < 15) fail(`api/config.cc: found only ${vars.size} STEMEDB_* settings`);
  return vars;
}

// The settings docs/configuration.md documents.
function documentedVariables() {
  const vars = new Set([...readRepo("docs/configuration.md").matchAll(/`(STEMEDB_[A-Z0-9_]+)`/g)].map((m) => m[1]));
  if (vars.size < 15) fail(`docs/configuration.md: found only ${vars.size} STEMEDB_* settings`);
  return vars;
}

// The metric families the server registers (api/metrics.cc); histograms
// also expose _bucket/_sum/_count.
export function serverMetrics() {
  const src = readRepo("api/metrics.cc");
  const names = new Set([...src.matchAll(/"(stemedb_[a-z0-9_]+)"/g)].map((m) => m[1]));
  const histograms = [
    ...src.matchAll(/FamilyDoc\s+\w+\{"(stemedb_[a-z0-9_]+)",\s*"histogram"/g),
    ...src.matchAll(/NewFamily<Histogram>\(\s*registry_,\s*"(stemedb_[a-z0-9_]+)"/g),
  ].map((m) => m[1]);
  for (const h of histograms) for (const s of ["_bucket", "_sum", "_count"]) names.add(h + s);
  if (names.size < 15 || histograms.length < 2) fail(`api/metrics.cc: parsed only ${names.size} metric names`);
  return names;
}

// The server's routes (api/router.cc): {verb, path, access}. The table's
// entries are designated initializers; each starts at `.method = V::...`, and
// its .path and .access must come before the next entry starts.
export function serverRoutes() {
  const src = readRepo("api/router.cc");
  const table = src.slice(src.indexOf("Router::Routes() {"));
  const entries = table.split(/\.method\s*=\s*V::/).slice(1);
  const routes = entries.map((e) => {
    const verb = /^(\w+)/.exec(e);
    const path = /\.path\s*=\s*"([^"]+)"/.exec(e);
    const access = /\.access\s*=\s*Access::k(\w+)/.exec(e);
    if (!verb || !path || !access) fail(`api/router.cc: a route entry without .path or .access: ${e.slice(0, 80)}`);
    return { verb: verb[1].replace(/_$/, "").toUpperCase(), path: path[1], access: access[1] };
  });
  if (routes.length < 10 || !routes.some((r) => r.path.startsWith("/v1/admin/"))) fail(`api/router.cc: parsed only ${routes.length} routes`);
  return routes;
}

// Data routes may be public; anything else (key administration, backup
// download, /metrics, an access level this list does not know) may not.
const PUBLIC_ACCESS = new Set(["Public", "Read", "Write"]);
export const isPublicRoute = (r) => PUBLIC_ACCESS.has(r.access) && r.path.startsWith("/v1/") && !r.path.startsWith("/v1/admin");

// ---- schema and unknown-field checks -----------------------------------

function checkInstalledPackages() {
  const errors = [];
  for (const [apiVersion, s] of Object.entries(SCHEMAS)) {
    if (!s.pkg) continue;
    const at = s.pkg.lastIndexOf("@");
    const [name, want] = [s.pkg.slice(0, at), s.pkg.slice(at + 1)];
    let got;
    try {
      got = JSON.parse(fs.readFileSync(path.join(here, "node_modules", name, "package.json"), "utf8")).version;
    } catch {
      got = "(not installed)";
    }
    if (got !== want) errors.push(`schemas: ${apiVersion} is named as ${s.pkg} (${s.release}) but ${name} ${got} is installed`);
  }
  return errors;
}

// A CRD's structural schema, closed: the API server prunes fields it does not
// know, so an object carrying one would silently lose it. Closing every
// object schema that lists properties turns that into an error here.
function closeSchema(s) {
  if (!s || typeof s !== "object") return s;
  if (Array.isArray(s)) return s.map(closeSchema);
  const out = {};
  for (const [k, v] of Object.entries(s)) out[k] = k === "properties" ? Object.fromEntries(Object.entries(v).map(([p, ps]) => [p, closeSchema(ps)])) : closeSchema(v);
  if (out.properties && out.additionalProperties === undefined && !out["x-kubernetes-preserve-unknown-fields"]) out.additionalProperties = false;
  return out;
}

const crdValidators = new Map();
function crdValidator(file) {
  if (!crdValidators.has(file)) {
    const doc = JSON.parse(fs.readFileSync(path.join(here, file), "utf8"));
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    crdValidators.set(file, ajv.compile(closeSchema(doc.schema)));
  }
  return crdValidators.get(file);
}

async function schemaCheck(objs, label) {
  const errors = [];
  for (const o of objs) {
    const id = `${label}: ${o.kind}/${o.metadata?.name}`;
    if (RETIRED[o.apiVersion]) {
      errors.push(`${id}: apiVersion ${o.apiVersion} ${RETIRED[o.apiVersion]}`);
      continue;
    }
    const s = SCHEMAS[o.apiVersion];
    if (!s) {
      errors.push(`${id}: no schema for apiVersion ${o.apiVersion}`);
      continue;
    }
    if (s.crds) {
      const file = s.crds[o.kind];
      if (!file) {
        errors.push(`${id}: no schema for kind ${o.kind} in ${o.apiVersion}`);
        continue;
      }
      const validate = crdValidator(file);
      if (!validate(o))
        for (const e of validate.errors.slice(0, 4))
          errors.push(`${id}: schema (${s.release}): ${e.instancePath || "/"} ${e.message}${e.params?.additionalProperty ? ` "${e.params.additionalProperty}"` : ""}`);
      continue;
    }
    const Model = (await import(s.module))[o.kind];
    if (!Model) {
      errors.push(`${id}: no schema for kind ${o.kind} in ${o.apiVersion}`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (e) {
      errors.push(`${id}: schema (${s.release}): ${String(e.message).split("\n").slice(0, 4).join(" | ")}`);
    }
  }
  return errors;
}

// tsc rejects object-literal properties its interface does not declare:
// that is the "unknown field" check the JSON-schema validators above skip.
// (Kinds with a vendored CRD schema are closed in schemaCheck instead.)
function unknownFieldCheck(sets) {
  // One directory per run: several build trees may validate one checkout at
  // once. Inside tests/k3s, so tsc finds node_modules.
  const dir = path.join(here, ".generated", String(process.pid));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const files = [];
  const versions = Object.keys(SCHEMAS);
  for (const [label, objs] of Object.entries(sets)) {
    const imports = new Map();
    const lines = [];
    objs.forEach((o, i) => {
      const mod = SCHEMAS[o.apiVersion]?.module;
      if (!mod) return;
      const alias = `I${o.kind}_${versions.indexOf(o.apiVersion)}`;
      imports.set(alias, `import type { I${o.kind} as ${alias} } from "${mod}";`);
      lines.push(`// ${o.kind}/${o.metadata?.name}`);
      lines.push(`export const o${i}: ${alias} = ${JSON.stringify(o, null, 2)};`);
    });
    const file = path.join(dir, `${label}.ts`);
    fs.writeFileSync(file, [...imports.values(), ...lines].join("\n") + "\n");
    files.push(file);
  }
  fs.writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: "esnext", moduleResolution: "bundler", target: "es2022", skipLibCheck: true, types: [] },
      files: files.map((f) => path.basename(f)),
    }),
  );
  try {
    execFileSync(process.execPath, [path.join(here, "node_modules/typescript/bin/tsc"), "-p", dir], { encoding: "utf8", stdio: "pipe" });
    return [];
  } catch (e) {
    const out = (e.stdout || "") + (e.stderr || "");
    return out
      .split("\n")
      .filter((l) => /error TS/.test(l))
      .map((l) => `unknown field or wrong type: ${l.replace(dir + "/", "")}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- policy -----------------------------------------------------------

const find = (objs, kind, name) => (objs || []).find((o) => o.kind === kind && (!name || o.metadata?.name === name));
const envOf = (c) => Object.fromEntries((c.env || []).map((e) => [e.name, e]));
const matches = (selector, labels) => Object.entries(selector || {}).every(([k, v]) => labels?.[k] === v);
const commandOf = (c) => [...(c.command || []), ...(c.args || [])];
const optionOf = (cmd, flag) => (cmd.includes(flag) ? cmd[cmd.indexOf(flag) + 1] : undefined);
// Kubernetes expands $(VAR) in command/args from the container's env. Names
// in `keep` stay unexpanded (set when applying, e.g. with kubectl set env).
export const expandWith = (c, keep = []) => {
  const vals = Object.fromEntries((c.env || []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
  return (s) => String(s ?? "").replace(/\$\(([A-Za-z0-9_]+)\)/g, (m, v) => (keep.includes(v) ? m : (vals[v] ?? m)));
};

function portNumber(container, port) {
  if (typeof port === "number") return port;
  return (container.ports || []).find((p) => p.name === port)?.containerPort;
}

const SECONDS = { s: 1, m: 60, h: 3600, d: 86400 };
function durationSeconds(d) {
  let total = 0;
  for (const m of String(d ?? "0s").matchAll(/(\d+)([smhd])/g)) total += Number(m[1]) * SECONDS[m[2]];
  return total;
}

function checkPodSecurity(pod, container, id, err) {
  const ps = pod.securityContext || {};
  const cs = container.securityContext || {};
  if (ps.runAsNonRoot !== true) err(`${id}: pod securityContext.runAsNonRoot must be true`);
  if (ps.runAsUser !== UID || ps.runAsGroup !== UID || ps.fsGroup !== UID) err(`${id}: pod must run as ${UID}:${UID} with fsGroup ${UID}`);
  if (ps.seccompProfile?.type !== "RuntimeDefault") err(`${id}: seccompProfile must be RuntimeDefault`);
  if (cs.runAsUser !== undefined && cs.runAsUser !== UID) err(`${id}: container runAsUser must be ${UID}`);
  if (cs.runAsGroup !== undefined && cs.runAsGroup !== UID) err(`${id}: container runAsGroup must be ${UID}`);
  if (cs.readOnlyRootFilesystem !== true) err(`${id}: readOnlyRootFilesystem must be true`);
  if (cs.allowPrivilegeEscalation !== false) err(`${id}: allowPrivilegeEscalation must be false`);
  if (!(cs.capabilities?.drop || []).includes("ALL")) err(`${id}: capabilities must drop ALL`);
  if (cs.capabilities?.add?.length) err(`${id}: no capability may be added`);
  if (pod.enableServiceLinks !== false) err(`${id}: enableServiceLinks must be false (service links inject STEMEDB_API_*)`);
  if (pod.automountServiceAccountToken !== false) err(`${id}: automountServiceAccountToken must be false (no pod here talks to the Kubernetes API)`);
  const tmp = (container.volumeMounts || []).find((m) => m.mountPath === "/tmp");
  const tmpVol = tmp && (pod.volumes || []).find((v) => v.name === tmp.name);
  if (!tmpVol?.emptyDir) err(`${id}: /tmp must be an emptyDir (read-only root filesystem)`);
}

// mountPath -> claimName for a pod's PVC-backed mounts.
function claimMounts(pod, container) {
  const out = {};
  for (const m of container.volumeMounts || []) {
    const claim = (pod.volumes || []).find((v) => v.name === m.name)?.persistentVolumeClaim?.claimName;
    if (claim) out[m.mountPath] = claim;
  }
  return out;
}

// Does a NetworkPolicy ingress rule admit `peer` ({ns?, labels}) on `port`?
function admits(np, peer, port, container) {
  return (np?.spec.ingress || []).some(
    (r) =>
      (!r.ports?.length || r.ports.some((p) => (container ? portNumber(container, p.port) : p.port) === port)) &&
      (r.from || []).some((f) =>
        peer.ns
          ? f.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] === peer.ns && matches(f.podSelector?.matchLabels, peer.labels)
          : !f.namespaceSelector && matches(f.podSelector?.matchLabels, peer.labels),
      ),
  );
}

// An Ingress path rule as Traefik applies it: Exact is Path(), Prefix (and
// ImplementationSpecific) is PathPrefix(), a plain string prefix - which is
// also the conservative reading for "is an admin path reachable".
const ingressMatches = (rule, p) => (rule.pathType === "Exact" ? p === rule.path : p.startsWith(rule.path));
const samplePath = (routePath) => routePath.replace(/\{[^}]+\}/g, "sample");

function checkIngress(objs, err, ctx, svc, sport) {
  const ing = find(objs, "Ingress");
  if (!ing) return undefined;
  const a = ing.metadata.annotations || {};
  if (!a["cert-manager.io/cluster-issuer"] && !a["cert-manager.io/issuer"]) err("Ingress needs a cert-manager issuer annotation");
  const hosts = ing.spec.rules.map((r) => r.host).sort();
  if (JSON.stringify((ing.spec.tls || []).flatMap((t) => t.hosts).sort()) !== JSON.stringify(hosts)) err("Ingress TLS hosts must equal the rule hosts");
  if (ing.spec.defaultBackend) err("Ingress must not have a defaultBackend (every path is listed)");
  const rules = ing.spec.rules.flatMap((r) => r.http?.paths || []);
  for (const p of rules) {
    const b = p.backend.service;
    if (b?.name !== svc?.metadata.name || (b.port.name ?? b.port.number) !== (b.port.name ? sport?.name : PORT)) err("Ingress backend must be Service stemedb-api port http");
  }
  // Admin and internal routes stay off the public entry; every data route is on it.
  for (const r of ctx.routes) {
    const p = samplePath(r.path);
    const routed = rules.some((rule) => ingressMatches(rule, p));
    if (!isPublicRoute(r) && routed) err(`Ingress exposes ${r.verb} ${r.path} (access ${r.access}): admin and internal routes go through kubectl port-forward`);
    if (isPublicRoute(r) && !routed) err(`Ingress does not route the data route ${r.verb} ${r.path}`);
  }
  for (const rule of rules)
    if (!ctx.routes.some((r) => isPublicRoute(r) && ingressMatches(rule, samplePath(r.path)))) err(`Ingress path ${rule.path} matches no data route of api/router.cc`);
  // Middlewares named in the annotation exist here.
  for (const ref of (a["traefik.ingress.kubernetes.io/router.middlewares"] || "").split(",").filter(Boolean)) {
    const m = ref.match(new RegExp(`^${NAMESPACE}-([a-z0-9-]+)@kubernetescrd$`));
    if (!m || !find(objs, "Middleware", m[1])) err(`Ingress middleware ${ref} is not a Middleware of this render`);
  }
  return ing;
}

// The rate-limit decision (k3s/README.md "Decisions"): behind k3s's
// ServiceLB, Traefik sees the node's IP for every client, so anything keyed
// on the client IP (rateLimit/inFlightReq by IP, ipAllowList) treats all
// clients as one. Keying on a request header is allowed.
function checkClientIpMiddlewares(objs, err) {
  for (const mw of objs.filter((o) => o.kind === "Middleware")) {
    for (const k of ["rateLimit", "inFlightReq"]) {
      const spec = mw.spec?.[k];
      if (spec && !spec.sourceCriterion?.requestHeaderName && !spec.sourceCriterion?.requestHost)
        err(`Middleware ${mw.metadata.name}: ${k} keyed on the client IP sees the node IP behind ServiceLB (k3s/README.md "Decisions")`);
    }
    if (mw.spec?.ipAllowList || mw.spec?.ipWhiteList) err(`Middleware ${mw.metadata.name}: an IP allow-list sees the node IP behind ServiceLB (k3s/README.md "Decisions")`);
  }
}

function checkAlerts(objs, err, ctx, svc, sm) {
  const pr = find(objs, "PrometheusRule");
  if (!pr) return false;
  const rules = pr.spec.groups.flatMap((g) => g.rules);
  const exprs = rules.map((r) => String(r.expr)).join("\n");
  // prometheus-operator sets job = the Service name unless jobLabel says otherwise.
  const job = sm?.spec.jobLabel ? svc?.metadata.labels?.[sm.spec.jobLabel] : svc?.metadata.name;
  const esc = (s) => String(s).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const upSel = `up\\{[^}]*job="${esc(job)}"[^}]*\\}`;
  const required = {
    "scrape target missing (absent(up{job=...}))": new RegExp(`absent\\(\\s*${upSel}\\s*\\)`),
    "scrape target down (up{job=...} == 0)": new RegExp(`(^|[^_a-z])${upSel}\\s*==\\s*0`, "m"),
    "pod not running": /kube_pod_status_phase/,
    "WAL fsync p99": /histogram_quantile\(\s*0\.99[\s\S]*stemedb_wal_fsync_latency_seconds_bucket/,
    "volume low relative to its size": /kubelet_volume_stats_available_bytes\{[^}]*\}\s*\/\s*kubelet_volume_stats_capacity_bytes/,
    "server free bytes": /stemedb_disk_free_bytes/,
    "429 saturation": /stemedb_rate_limited_total/,
    "5xx rate": /stemedb_http_requests_total\{[^}]*status=~"5\.\."/,
    OOMKilled: /kube_pod_container_status_last_terminated_reason\{[^}]*reason="OOMKilled"/,
    "backup failed": /kube_job_status_failed\{[^}]*job_name=~"stemedb-backup/,
    "no successful backup yet": /absent\(\s*kube_cronjob_status_last_successful_time\{[^}]*cronjob="stemedb-backup"/,
  };
  for (const [what, re] of Object.entries(required)) if (!re.test(exprs)) err(`PrometheusRule lacks the ${what} alert`);
  // A crash loop: CrashLoopBackOff, or restarts (the OOM alert's restarts do not count).
  const crashLoop = (e) => !/OOMKilled/.test(e) && /kube_pod_container_status_waiting_reason\{[^}]*reason="CrashLoopBackOff"|increase\(\s*kube_pod_container_status_restarts_total/.test(e);
  if (!rules.some((r) => crashLoop(String(r.expr)))) err("PrometheusRule lacks the crash-looping alert");
  // Outages and crash loops page within minutes.
  for (const r of rules) {
    const e = String(r.expr);
    const urgent = crashLoop(e) || /absent\(\s*up\{|\bup\{[^}]*\}\s*==\s*0/.test(e);
    if (urgent && durationSeconds(r.for) > 300) err(`alert ${r.alert}: for ${r.for} is too slow for an outage or crash loop (at most 5m)`);
    if (!r.labels?.severity || !r.annotations?.summary) err(`alert ${r.alert} needs a severity label and a summary`);
  }
  for (const m of ruleMetricNames([pr])) if (!ctx.metrics.has(m)) err(`PrometheusRule uses ${m}, which is not a metric the server exports (api/metrics.cc)`);
  return true;
}

// The Grafana dashboard ConfigMap (k3s/monitoring, one source file): loaded
// by Grafana's sidecar through its label, valid JSON, and every stemedb_*
// series a panel queries is one the server exports. (tests/observability
// evaluates each query against a real Prometheus.)
export const dashboardOf = (objs) => find(objs, "ConfigMap", "stemedb-grafana-dashboard");
function checkDashboard(objs, err, ctx) {
  const cm = dashboardOf(objs);
  if (!cm) return err("ConfigMap stemedb-grafana-dashboard (the Grafana dashboard) missing");
  if (cm.metadata.labels?.grafana_dashboard !== "1") err('dashboard ConfigMap needs the label grafana_dashboard: "1" (Grafana sidecar)');
  const files = Object.keys(cm.data || {});
  if (files.length !== 1 || !files[0].endsWith(".json")) return err("dashboard ConfigMap must hold exactly one .json file");
  let dash;
  try {
    dash = JSON.parse(cm.data[files[0]]);
  } catch (e) {
    return err(`dashboard ${files[0]} is not JSON: ${e.message}`);
  }
  const exprs = (dash.panels || []).flatMap((p) => (p.targets || []).map((t) => String(t.expr)));
  if (exprs.length < 10) err(`dashboard has only ${exprs.length} queries`);
  for (const e of exprs) for (const m of e.matchAll(/\b(stemedb_[a-z0-9_]+)/g)) if (!ctx.metrics.has(m[1])) err(`dashboard queries ${m[1]}, which is not a metric the server exports (api/metrics.cc)`);
}

export function ruleMetricNames(objs) {
  const names = new Set();
  for (const o of objs.filter((x) => x.kind === "PrometheusRule"))
    for (const g of o.spec.groups) for (const r of g.rules) for (const m of String(r.expr).matchAll(/\b(stemedb_[a-z0-9_]+)/g)) names.add(m[1]);
  return names;
}

// env = { app, data, restore?, smoke? } rendered objects of one environment.
export function checkPolicies(env, label, ctx) {
  const errors = [];
  const err = (m) => errors.push(`${label}: ${m}`);
  const objs = env.app;
  const isDev = label === "dev";

  for (const [part, list] of Object.entries(env))
    for (const o of list)
      if (!CLUSTER_SCOPED.has(o.kind) && o.metadata?.namespace !== NAMESPACE) err(`${part}: ${o.kind}/${o.metadata?.name} not in namespace ${NAMESPACE}`);

  // ---- data safety: the data is never part of the app -----------------
  for (const o of objs) if (DATA_KINDS.has(o.kind)) err(`app render contains ${o.kind}/${o.metadata?.name}: \`kubectl delete -k\` of the app would delete the data (it belongs in k3s/data)`);
  for (const o of objs) if (o.kind === "Job") err(`app render contains Job/${o.metadata?.name}: one-off Jobs (restore, smoke) are applied by hand, never with the app`);
  for (const part of ["restore", "smoke"]) for (const o of env[part] || []) if (DATA_KINDS.has(o.kind) || o.kind !== "Job") err(`${part} render must be one Job, has ${o.kind}/${o.metadata?.name}`);
  const data = env.data || [];
  if (!find(data, "Namespace", NAMESPACE)) err(`data render: Namespace ${NAMESPACE} missing`);
  for (const o of data) if (!DATA_KINDS.has(o.kind)) err(`data render must hold only the namespace, StorageClass and PVCs, has ${o.kind}/${o.metadata?.name}`);

  const deploys = objs.filter((o) => o.kind === "Deployment");
  const dep = find(objs, "Deployment", "stemedb-api");
  if (!dep || deploys.length !== 1) return [...errors, `${label}: exactly one Deployment stemedb-api expected`];
  const spec = dep.spec;
  const pod = spec.template.spec;
  const c = pod.containers.find((x) => x.name === "stemedb");
  if (!c || pod.containers.length !== 1) return [...errors, `${label}: Deployment must have one container "stemedb"`];
  const env_ = envOf(c);
  const podLabels = spec.template.metadata.labels;

  if (spec.replicas !== 1) err(`Deployment replicas must be 1 (one process owns the data), got ${spec.replicas}`);
  if (spec.strategy?.type !== "Recreate") err(`Deployment strategy must be Recreate (RWO volumes + lock), got ${spec.strategy?.type}`);
  if (!matches(spec.selector.matchLabels, podLabels)) err("Deployment selector does not match the pod labels");
  checkPodSecurity(pod, c, "Deployment", err);
  if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory) err("Deployment needs cpu/memory requests and a memory limit");
  if (label === "prod" && !DIGEST_IMAGE.test(c.image)) err(`prod image must be pinned by digest (REGISTRY/stemedb@sha256:<64 hex>), got ${c.image}`);

  // port: container, bind address, Service, annotations, probes
  const http = (c.ports || []).find((p) => p.name === "http");
  if (http?.containerPort !== PORT) err(`container port "http" must be ${PORT}`);
  const bind = env_.STEMEDB_BIND_ADDR?.value || "";
  if (bind !== `0.0.0.0:${http?.containerPort}`) err(`STEMEDB_BIND_ADDR must be 0.0.0.0:<container port>, got '${bind}'`);
  const ann = spec.template.metadata.annotations || {};
  if (ann["prometheus.io/scrape"] !== "true" || Number(ann["prometheus.io/port"]) !== http?.containerPort || ann["prometheus.io/path"] !== "/metrics")
    err("pod needs prometheus.io/scrape=true, port=<container port>, path=/metrics");
  const probes = { startupProbe: "/v1/health", livenessProbe: "/v1/health", readinessProbe: "/v1/ready" };
  for (const [p, want] of Object.entries(probes)) {
    const pr = c[p];
    if (pr?.httpGet?.path !== want) err(`${p} must GET ${want}, got ${pr?.httpGet?.path}`);
    else if (portNumber(c, pr.httpGet.port) !== PORT) err(`${p} port must resolve to ${PORT}`);
  }
  const sp = c.startupProbe || {};
  if ((sp.failureThreshold ?? 3) * (sp.periodSeconds ?? 10) < 1800) err("startupProbe must tolerate >= 30 min (failureThreshold*periodSeconds)");

  // drain: the kubelet must not SIGKILL a draining server
  const drainMs = Number(env_.STEMEDB_DRAIN_TIMEOUT_MS?.value ?? ctx.serverVars.get("STEMEDB_DRAIN_TIMEOUT_MS") ?? 20000);
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  if (!(grace >= drainMs / 1000 + 10)) err(`terminationGracePeriodSeconds (${grace}) must exceed the drain timeout (${drainMs / 1000} s) by >= 10 s`);

  // volumes: both PVCs (from the data render) RWO on a Retain class, mounted where the env points
  const mounts = claimMounts(pod, c);
  // The PVC a path lives on (its deepest enclosing mount), or undefined.
  const claimAt = (p) => {
    const m = Object.keys(mounts).filter((mp) => p === mp || p?.startsWith(mp + "/")).sort((a, b) => b.length - a.length)[0];
    return m && mounts[m];
  };
  for (const [claim, v] of [["stemedb-wal", "STEMEDB_WAL_DIR"], ["stemedb-db", "STEMEDB_DB_DIR"]]) {
    const dir = env_[v]?.value;
    if (!dir || claimAt(dir) !== claim) err(`${v} (${dir}) must be on PVC ${claim}`);
  }
  const pvcs = data.filter((o) => o.kind === "PersistentVolumeClaim");
  for (const claim of new Set(Object.values(mounts))) if (!find(pvcs, "PersistentVolumeClaim", claim)) err(`the Deployment mounts PVC ${claim}, which the data render does not create`);
  for (const pvc of pvcs) {
    const name = pvc.metadata.name;
    if (!Object.values(mounts).includes(name)) err(`data render: PVC ${name} is not mounted by the Deployment`);
    if (JSON.stringify(pvc.spec.accessModes) !== '["ReadWriteOnce"]') err(`PVC ${name} must be ReadWriteOnce only`);
    const sc = find(data, "StorageClass", pvc.spec.storageClassName);
    if (!sc) err(`PVC ${name} must use a StorageClass of the data render (got ${pvc.spec.storageClassName})`);
    else {
      if (sc.reclaimPolicy !== "Retain") err(`StorageClass ${sc.metadata.name} (PVC ${name}) must have reclaimPolicy Retain, got ${sc.reclaimPolicy ?? "Delete (default)"}`);
      // local-path volumes are node directories and cannot grow.
      if (sc.provisioner !== "rancher.io/local-path" && sc.allowVolumeExpansion !== true) err(`StorageClass ${sc.metadata.name} must allow volume expansion`);
    }
  }
  if (!isDev) for (const pvc of pvcs) if (find(data, "StorageClass", pvc.spec.storageClassName)?.provisioner !== "driver.longhorn.io") err(`PVC ${pvc.metadata.name} must be on Longhorn outside dev`);
  // The server builds backup checkpoints in <parent of DB_DIR>/backup-tmp by
  // hard-linking SSTs: that parent must be on the DB volume, not the root fs.
  const dbDir = env_.STEMEDB_DB_DIR?.value || "";
  if (claimAt(path.posix.dirname(dbDir)) !== "stemedb-db") err(`the parent of STEMEDB_DB_DIR (${dbDir}) must be on PVC stemedb-db (backup-tmp scratch)`);
  const dataDir = env_.STEMEDB_DATA_DIR?.value;
  if (!dataDir || !claimAt(dataDir)) err(`STEMEDB_DATA_DIR (${dataDir}) must be on a PVC (lock file, root.key)`);
  const rk = env_.STEMEDB_ROOT_API_KEY?.valueFrom?.secretKeyRef;
  if (!rk || rk.key !== "STEMEDB_ROOT_API_KEY") err("STEMEDB_ROOT_API_KEY must come from a Secret (secretKeyRef key STEMEDB_ROOT_API_KEY)");
  if (env_.STEMEDB_AUTH_ENABLED?.value === "false" || env_.STEMEDB_UNSAFE_SKIP_SIGNATURES?.value === "true") err("auth and signatures must stay on");

  // Service, ServiceMonitor, NetworkPolicy, Ingress agree on port and labels
  const svc = find(objs, "Service", "stemedb-api");
  const sport = svc?.spec.ports.find((p) => p.port === PORT);
  if (!svc || !sport) err(`Service stemedb-api must expose ${PORT}`);
  else {
    if (portNumber(c, sport.targetPort) !== PORT) err("Service targetPort must resolve to the container port");
    if (!matches(svc.spec.selector, podLabels)) err("Service selector does not match the pod labels");
    if (svc.spec.type && svc.spec.type !== "ClusterIP") err("Service stemedb-api must be ClusterIP (public traffic only through the Ingress)");
  }
  const np = find(objs, "NetworkPolicy", "stemedb-api");
  if (!np) err("NetworkPolicy stemedb-api missing");
  else {
    if (!matches(np.spec.podSelector.matchLabels, podLabels)) err("NetworkPolicy stemedb-api does not select the pod");
    const ports = (np.spec.ingress || []).flatMap((r) => (r.ports || []).map((p) => p.port));
    if (ports.length === 0 || ports.some((p) => portNumber(c, p) !== PORT)) err(`NetworkPolicy ingress must allow only ${PORT}`);
    const egressPorts = (np.spec.egress || []).flatMap((r) => (r.ports || []).map((p) => p.port)).sort();
    if (JSON.stringify([...new Set(egressPorts)]) !== "[443,53]") err("NetworkPolicy egress must be DNS (53) and 443 only");
  }
  const dd = find(objs, "NetworkPolicy", "default-deny");
  if (!dd || Object.keys(dd.spec.podSelector || {}).length || JSON.stringify(dd.spec.policyTypes) !== '["Ingress","Egress"]') err("NetworkPolicy default-deny (all pods, Ingress and Egress) missing");
  const sm = find(objs, "ServiceMonitor");
  if (sm) {
    if (!matches(sm.spec.selector.matchLabels, svc?.metadata.labels)) err("ServiceMonitor selector does not match the Service labels");
    if (!sm.spec.endpoints.every((e) => e.port === sport?.name && (e.path ?? "/metrics") === "/metrics")) err("ServiceMonitor must scrape the Service port at /metrics");
    if (!admits(np, PROMETHEUS, PORT, c)) err("NetworkPolicy stemedb-api must admit Prometheus");
  } else if (!isDev) err("ServiceMonitor missing");

  const ing = checkIngress(objs, err, ctx, svc, sport);
  if (ing) {
    if (!admits(np, TRAEFIK, PORT, c)) err("NetworkPolicy stemedb-api must admit Traefik");
    // cert-manager's HTTP-01 solver pod must be reachable from Traefik, or
    // the default-deny policy blocks certificate issuance.
    const a = ing.metadata.annotations || {};
    if ((a["cert-manager.io/cluster-issuer"] || a["cert-manager.io/issuer"]) && dd) {
      const solver = objs.filter((o) => o.kind === "NetworkPolicy" && o.spec.podSelector?.matchLabels?.[ACME_SOLVER_LABEL] === "true");
      if (!solver.some((p) => admits(p, TRAEFIK, ACME_SOLVER_PORT)))
        err(`no NetworkPolicy admits Traefik to the cert-manager HTTP-01 solver pods (${ACME_SOLVER_LABEL}: "true", port ${ACME_SOLVER_PORT}): TLS would never issue`);
    }
  } else if (!isDev) err("Ingress missing");
  if (objs.some((o) => o.kind === "IngressRoute")) err("use networking.k8s.io Ingress (its routes are checked against api/router.cc), not a Traefik IngressRoute");
  checkClientIpMiddlewares(objs, err);

  // Secrets: in clusters with external-secrets, every referenced Secret is made by an ExternalSecret
  const es = objs.filter((o) => o.kind === "ExternalSecret");
  const esTargets = new Set(es.map((e) => e.spec.target?.name ?? e.metadata.name));
  const secretRefs = (ctr) => [
    ...(ctr.env || []).map((e) => e.valueFrom?.secretKeyRef?.name),
    ...(ctr.envFrom || []).map((e) => e.secretRef?.name),
  ].filter(Boolean);
  if (!isDev && !esTargets.has(rk?.name)) err(`no ExternalSecret creates Secret ${rk?.name}`);

  // PodDisruptionBudget: with one replica, minAvailable >= 1 blocks drains forever
  for (const pdb of objs.filter((o) => o.kind === "PodDisruptionBudget"))
    if ((pdb.spec.minAvailable ?? 0) !== 0 || pdb.spec.maxUnavailable === 0) err(`PodDisruptionBudget ${pdb.metadata.name} would block kubectl drain with 1 replica`);

  const svcUrl = `http://${svc?.metadata.name}.${NAMESPACE}.svc:${PORT}`;
  const jobVars = (ctr, id) => {
    for (const name of Object.keys(envOf(ctr)))
      if (!(STEMECTL_VARS.has(name) || JOB_EXTRA_VARS.has(name) || name.startsWith("RCLONE_"))) err(`${id} env ${name} is neither a stemectl, rclone nor documented job variable`);
    for (const m of commandOf(ctr).join(" ").matchAll(/\$\(([A-Z0-9_]+)\)/g)) if (!envOf(ctr)[m[1]]) err(`${id} command uses $(${m[1]}) but does not set it`);
    if (!isDev) for (const ref of secretRefs(ctr)) if (!esTargets.has(ref)) err(`no ExternalSecret creates Secret ${ref} (${id})`);
  };
  const selectedBy = (name, labels) => {
    const p = find(objs, "NetworkPolicy", name);
    return p && matches(p.spec.podSelector.matchLabels, labels);
  };

  // ---- backup CronJob: its own least-privilege key ----------------------
  const cj = find(objs, "CronJob", "stemedb-backup");
  let backupRemote;
  let rcloneSecrets = [];
  if (!cj) err("CronJob stemedb-backup missing");
  else {
    const s = cj.spec;
    if (s.concurrencyPolicy !== "Forbid") err("CronJob concurrencyPolicy must be Forbid");
    if (!(s.successfulJobsHistoryLimit >= 1) || !(s.failedJobsHistoryLimit >= 1)) err("CronJob needs successful/failedJobsHistoryLimit");
    if (!(s.startingDeadlineSeconds > 0) || !(s.jobTemplate.spec.activeDeadlineSeconds > 0)) err("CronJob needs startingDeadlineSeconds and activeDeadlineSeconds");
    const jpod = s.jobTemplate.spec.template.spec;
    const jc = jpod.containers[0];
    checkPodSecurity(jpod, jc, "CronJob", err);
    if (jc.image !== c.image) err("CronJob image must be the server image");
    const cmd = commandOf(jc);
    if (cmd[0] !== "stemectl" || cmd[1] !== "backup") err("CronJob must run `stemectl backup`");
    if (!cmd.includes("--remote") || !cmd.includes("--keep") || !(Number(optionOf(cmd, "--keep")) >= 1)) err("CronJob needs --remote and --keep N");
    if (optionOf(cmd, "--url") !== svcUrl) err(`CronJob --url must be ${svcUrl}`);
    backupRemote = expandWith(jc)(optionOf(cmd, "--remote"));
    const key = envOf(jc).STEMEDB_ADMIN_KEY?.valueFrom?.secretKeyRef;
    if (!key) err("CronJob STEMEDB_ADMIN_KEY must come from a Secret");
    else if (key.name === rk?.name) err(`CronJob must not use the root key (Secret ${rk?.name}): it gets its own backup-role key`);
    rcloneSecrets = (jc.envFrom || []).map((e) => e.secretRef?.name).filter(Boolean);
    if (key && rcloneSecrets.includes(key.name)) err(`CronJob key Secret ${key.name} must not also be its envFrom (rclone) Secret: the restore Job shares that one`);
    if (rcloneSecrets.length !== 1) err("CronJob must take its rclone remote from exactly one envFrom Secret");
    jobVars(jc, "CronJob");
    const jlabels = s.jobTemplate.spec.template.metadata?.labels;
    if (!selectedBy("stemedb-backup", jlabels)) err("NetworkPolicy stemedb-backup must select the backup pods");
    if (np && !admits(np, { labels: jlabels }, PORT, c)) err("NetworkPolicy stemedb-api must admit the backup pods");
  }

  // ---- restore Job: the Deployment's own volumes and layout --------------
  if (env.restore) {
    const job = find(env.restore, "Job", "stemedb-restore");
    if (!job) err("restore Job stemedb-restore missing");
    else {
      const rpod = job.spec.template.spec;
      const rc = rpod.containers[0];
      checkPodSecurity(rpod, rc, "restore Job", err);
      if (rc.image !== c.image) err(`restore Job image must be the server image (${c.image}), got ${rc.image}`);
      const want = JSON.stringify(Object.entries(mounts).sort());
      const got = JSON.stringify(Object.entries(claimMounts(rpod, rc)).sort());
      if (got !== want) err(`restore Job must mount exactly the Deployment's volumes at its paths: want ${want}, got ${got}`);
      const cmd = commandOf(rc);
      if (cmd[0] !== "stemectl" || cmd[1] !== "restore") err("restore Job must run `stemectl restore`");
      if (optionOf(cmd, "--wal-dir") !== env_.STEMEDB_WAL_DIR?.value) err(`restore Job --wal-dir must be the Deployment's STEMEDB_WAL_DIR (${env_.STEMEDB_WAL_DIR?.value}), got ${optionOf(cmd, "--wal-dir")}`);
      if (optionOf(cmd, "--db-dir") !== env_.STEMEDB_DB_DIR?.value) err(`restore Job --db-dir must be the Deployment's STEMEDB_DB_DIR (${env_.STEMEDB_DB_DIR?.value}), got ${optionOf(cmd, "--db-dir")}`);
      if (cmd.includes("--data-dir")) err("restore Job must restore into the Deployment's layout (--wal-dir/--db-dir), not a --data-dir");
      const remote = expandWith(rc)(optionOf(cmd, "--remote"));
      if (!backupRemote || path.posix.dirname(remote) !== backupRemote || !/\$\(BACKUP_NAME\)$/.test(optionOf(cmd, "--remote") || ""))
        err(`restore Job --remote must be the CronJob's remote (${backupRemote}) + /$(BACKUP_NAME), got ${optionOf(cmd, "--remote")}`);
      const rsecrets = secretRefs(rc);
      if (JSON.stringify(rsecrets) !== JSON.stringify(rcloneSecrets)) err(`restore Job must use exactly the CronJob's rclone Secret (${rcloneSecrets}), got ${rsecrets}`);
      if (Object.keys(envOf(rc)).some((n) => n.startsWith("STEMEDB_"))) err("restore Job needs no StemeDB key and must hold none");
      jobVars(rc, "restore Job");
      const anti = rpod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution || [];
      if (!anti.some((t) => t.topologyKey === "kubernetes.io/hostname" && matches(t.labelSelector?.matchLabels, podLabels)))
        err("restore Job needs a required podAntiAffinity against the API pod (kubernetes.io/hostname): never beside a running server");
      if (!(job.spec.activeDeadlineSeconds > 0)) err("restore Job needs activeDeadlineSeconds");
      if (!selectedBy("stemedb-restore", job.spec.template.metadata?.labels)) err("NetworkPolicy stemedb-restore must select the restore pods");
    }
  }

  // ---- smoke Job --------------------------------------------------------
  if (env.smoke) {
    const job = find(env.smoke, "Job", "stemedb-smoke");
    if (!job) err("smoke Job stemedb-smoke missing");
    else {
      const spod = job.spec.template.spec;
      const sc = spod.containers[0];
      checkPodSecurity(spod, sc, "smoke Job", err);
      if (sc.image !== c.image) err(`smoke Job image must be the server image (${c.image}), got ${sc.image}`);
      const cmd = commandOf(sc);
      if (cmd[0] !== "stemectl" || cmd[1] !== "smoke") err("smoke Job must run `stemectl smoke`");
      if (optionOf(cmd, "--url") !== svcUrl) err(`smoke Job --url must be ${svcUrl}`);
      if (!envOf(sc).STEMEDB_ADMIN_KEY?.valueFrom?.secretKeyRef) err("smoke Job STEMEDB_ADMIN_KEY must come from a Secret");
      if (job.spec.backoffLimit !== 0) err("smoke Job backoffLimit must be 0 (a failing gate is not retried into a pass)");
      jobVars(sc, "smoke Job");
      const slabels = job.spec.template.metadata?.labels;
      if (!selectedBy("stemedb-smoke", slabels)) err("NetworkPolicy stemedb-smoke must select the smoke pods");
      if (np && !admits(np, { labels: slabels }, PORT, c)) err("NetworkPolicy stemedb-api must admit the smoke pods");
    }
  } else if (env.restore) err("smoke Job render missing");

  // every STEMEDB_* the server gets is a setting it knows and docs/configuration.md documents
  for (const name of Object.keys(env_)) {
    if (!ctx.serverVars.has(name)) err(`Deployment env ${name} is not a setting the server knows (api/config.cc)`);
    else if (!ctx.docVars.has(name)) err(`Deployment env ${name} is not documented in docs/configuration.md`);
  }
  if (c.envFrom?.length) err("Deployment must not use envFrom (every variable explicit and checked)");

  if (!checkAlerts(objs, err, ctx, svc, sm) && !isDev) err("PrometheusRule missing");
  checkDashboard(objs, err, ctx);

  if (isDev) for (const k of ["Ingress", "Middleware", "ExternalSecret", "ServiceMonitor", "PrometheusRule"]) if (find(objs, k)) err(`dev must not need ${k} (no such controller on a plain k3s)`);
  return errors;
}

// The optional warm standby (k3s/overlays/standby + k3s/data/standby;
// k3s/README.md "Warm standby"): prod's objects (checked as prod above) plus
// a second Deployment that follows the primary's WAL archive. Its rclone
// remote comes from the CronJob's Secret by envFrom on both servers: the
// one place a Deployment takes variables it does not name.
export function checkStandby(env, ctx) {
  const errors = [];
  const err = (m) => errors.push(`standby: ${m}`);
  const objs = env.app;
  const deploys = objs.filter((o) => o.kind === "Deployment").map((d) => d.metadata.name).sort();
  if (JSON.stringify(deploys) !== '["stemedb-api","stemedb-standby"]') return [`standby: Deployments stemedb-api and stemedb-standby expected, got ${deploys}`];
  const primary = find(objs, "Deployment", "stemedb-api");
  const standby = find(objs, "Deployment", "stemedb-standby");
  const pc = primary.spec.template.spec.containers.find((x) => x.name === "stemedb");
  const pod = standby.spec.template.spec;
  const c = pod.containers.find((x) => x.name === "stemedb");
  if (!c || pod.containers.length !== 1) return [...errors, "standby: Deployment must have one container \"stemedb\""];
  const env_ = envOf(c);
  const labels = standby.spec.template.metadata.labels;
  const primaryLabels = primary.spec.template.metadata.labels;
  if (standby.spec.replicas !== 1 || standby.spec.strategy?.type !== "Recreate") err("stemedb-standby must be 1 replica, Recreate (RWO volumes + lock)");
  if (!matches(standby.spec.selector.matchLabels, labels)) err("stemedb-standby selector does not match its pod labels");
  checkPodSecurity(pod, c, "stemedb-standby", err);
  if (c.image !== pc.image) err(`stemedb-standby must run the primary's image (${pc.image}), got ${c.image}`);
  // Writes never reach it before a promotion: the Service selects the primary only.
  const svc = find(objs, "Service", "stemedb-api");
  if (svc && matches(svc.spec.selector, labels)) err("Service stemedb-api must not select the standby pods (they refuse writes until promoted)");
  // Another failure domain.
  const anti = pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution || [];
  if (!anti.some((t) => t.topologyKey === "kubernetes.io/hostname" && matches(t.labelSelector?.matchLabels, primaryLabels)))
    err("stemedb-standby needs a required podAntiAffinity against the primary pod (kubernetes.io/hostname): another failure domain");
  // Standby mode, following the archive the primary writes.
  const penv = envOf(pc);
  const remote = penv.STEMEDB_ARCHIVE_REMOTE?.value;
  if (!remote) err("the primary must archive (STEMEDB_ARCHIVE_REMOTE) for a standby to follow");
  if (env_.STEMEDB_STANDBY?.value !== "true") err("stemedb-standby needs STEMEDB_STANDBY=true");
  if (env_.STEMEDB_ARCHIVE_REMOTE?.value !== remote) err(`stemedb-standby must follow the primary's archive (${remote}), got ${env_.STEMEDB_ARCHIVE_REMOTE?.value}`);
  const cj = find(objs, "CronJob", "stemedb-backup");
  const cjc = cj?.spec.jobTemplate.spec.template.spec.containers[0];
  const backupRemote = cjc && expandWith(cjc)(optionOf(commandOf(cjc), "--remote"));
  if (remote && backupRemote !== remote) err(`the archive (${remote}) must be where the base backups go (${backupRemote}): a standby starts from the newest one`);
  const rclone = (cjc?.envFrom || []).map((e) => e.secretRef?.name);
  for (const [id, ctr] of [["stemedb-api", pc], ["stemedb-standby", c]]) {
    const refs = (ctr.envFrom || []).map((e) => e.secretRef?.name);
    if (JSON.stringify(refs) !== JSON.stringify(rclone)) err(`${id} must take the rclone remote from the CronJob's Secret (${rclone}) by envFrom, got ${refs}`);
    for (const name of Object.keys(envOf(ctr))) {
      if (JOB_EXTRA_VARS.has(name) && !name.startsWith("BACKUP_")) continue;
      if (!ctx.serverVars.has(name)) err(`${id} env ${name} is not a setting the server knows (api/config.cc)`);
      else if (!ctx.docVars.has(name)) err(`${id} env ${name} is not documented in docs/configuration.md`);
    }
  }
  // Its own volumes, from its data render, never the primary's.
  const mounts = claimMounts(pod, c);
  const claimAt = (p) => {
    const m = Object.keys(mounts).filter((mp) => p === mp || p?.startsWith(mp + "/")).sort((a, b) => b.length - a.length)[0];
    return m && mounts[m];
  };
  for (const [claim, v] of [["stemedb-standby-wal", "STEMEDB_WAL_DIR"], ["stemedb-standby-db", "STEMEDB_DB_DIR"]]) {
    if (claimAt(env_[v]?.value) !== claim) err(`${v} (${env_[v]?.value}) must be on PVC ${claim}`);
    const pvc = find(env.data, "PersistentVolumeClaim", claim);
    if (!pvc) err(`PVC ${claim} missing from k3s/data/standby`);
    else if (JSON.stringify(pvc.spec.accessModes) !== '["ReadWriteOnce"]') err(`PVC ${claim} must be ReadWriteOnce only`);
  }
  if (claimAt(path.posix.dirname(env_.STEMEDB_DB_DIR?.value || "")) !== "stemedb-standby-db") err("the parent of the standby's STEMEDB_DB_DIR must be on its DB volume");
  for (const o of objs) if (DATA_KINDS.has(o.kind)) err(`app render contains ${o.kind}/${o.metadata?.name} (it belongs in k3s/data/standby)`);
  // Probes as the primary's; the first start restores before it listens.
  const probes = { startupProbe: "/v1/health", livenessProbe: "/v1/health", readinessProbe: "/v1/ready" };
  for (const [p, want] of Object.entries(probes)) if (c[p]?.httpGet?.path !== want) err(`${p} must GET ${want}`);
  const sp = c.startupProbe || {};
  if ((sp.failureThreshold ?? 3) * (sp.periodSeconds ?? 10) < 3600) err("startupProbe must tolerate the first start's restore (>= 1 h)");
  const np = objs.find((o) => o.kind === "NetworkPolicy" && Object.keys(o.spec.podSelector?.matchLabels || {}).length && matches(o.spec.podSelector.matchLabels, labels));
  if (!np) err("no NetworkPolicy selects the standby pods");
  else {
    const egressPorts = (np.spec.egress || []).flatMap((r) => (r.ports || []).map((p) => p.port)).sort();
    if (JSON.stringify([...new Set(egressPorts)]) !== "[443,53]") err("standby NetworkPolicy egress must be DNS (53) and 443 only");
    if (!admits(np, PROMETHEUS, PORT, c)) err("standby NetworkPolicy must admit Prometheus");
    if (!admits(np, TRAEFIK, PORT, c)) err("standby NetworkPolicy must admit Traefik (after a promotion the Service points here)");
  }
  return errors;
}

// The runbook's restore step (k3s/README.md "Restore") names the backup with
// `kubectl set env --local`: it must work offline on the rendered Job and set
// exactly BACKUP_NAME.
export function checkRestoreNaming(label) {
  const name = "stemedb-20261122T221703Z-lsn1234.tar";
  const errors = [];
  const dir = ENVIRONMENTS[label].restore;
  if (label === "prod" && !readRepo("k3s/README.md").includes(`kubectl kustomize ${dir} \\\n  | kubectl set env --local -f - BACKUP_NAME=`))
    errors.push(`k3s/README.md "Restore" no longer names the backup with kubectl set env on ${dir}: update this check with it`);
  let out;
  try {
    const rendered = execFileSync("kubectl", ["kustomize", path.join(repo, dir)], { encoding: "utf8" });
    out = execFileSync("kubectl", ["set", "env", "--local", "-f", "-", `BACKUP_NAME=${name}`, "-o", "yaml"], { input: rendered, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
  } catch (e) {
    return [...errors, `${label}: kubectl set env --local on the restore Job failed: ${e.stderr || e.message}`];
  }
  const job = YAML.parse(out);
  const c = job?.spec?.template?.spec?.containers?.[0];
  const remote = c && expandWith(c)(optionOf(commandOf(c), "--remote"));
  if (!remote?.endsWith(`/${name}`)) errors.push(`${label}: after kubectl set env, the restore Job's --remote is ${remote}, not .../${name}`);
  return errors;
}

// The Dockerfile must agree with the manifests.
export function checkDockerfile(text, dep) {
  const errors = [];
  const froms = [...text.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
  if (froms[0] !== "debian:12" || froms.at(-1) !== "debian:12-slim") errors.push("Dockerfile: build stage FROM debian:12, final FROM debian:12-slim");
  const final = text.slice(text.lastIndexOf("\nFROM "));
  if (!/^USER 1000:1000$/m.test(final)) errors.push("Dockerfile: final stage must be USER 1000:1000");
  if (!new RegExp(`^EXPOSE ${PORT}$`, "m").test(final)) errors.push(`Dockerfile: EXPOSE ${PORT}`);
  if (!/^ENTRYPOINT \["stemedb"\]$/m.test(final)) errors.push('Dockerfile: ENTRYPOINT ["stemedb"]');
  const pkgs = runtimePackages(text);
  for (const p of pkgs) if (/(-dev$|^g\+\+|^gcc|^clang|^cmake$|^ninja|^make$|^pkg-config$)/.test(p)) errors.push(`Dockerfile: build tool ${p} in the final stage`);
  if (!pkgs.includes("rclone")) errors.push("Dockerfile: rclone missing from the final stage");
  const c = dep?.spec.template.spec.containers[0];
  if (c?.command || c?.args) errors.push("Deployment must use the image ENTRYPOINT (no command/args)");
  return errors;
}

export function runtimePackages(text) {
  const m = text.match(/# runtime-packages-begin[^\n]*\n([\s\S]*?)# runtime-packages-end/);
  if (!m) return [];
  return m[1]
    .split("\n")
    .map((l) => l.trim().replace(/\\$/, "").trim())
    .filter((l) => /^[a-z0-9][a-z0-9.+-]+$/.test(l));
}

// ---- self-test: each break must be caught ---------------------------------

const clone = (x) => JSON.parse(JSON.stringify(x));
const depOf = (e) => find(e.app, "Deployment", "stemedb-api");
const ctrOf = (e) => depOf(e).spec.template.spec.containers[0];
const envSet = (e, name, value) => (ctrOf(e).env.find((x) => x.name === name).value = value);
const cronCtr = (e) => find(e.app, "CronJob").spec.jobTemplate.spec.template.spec.containers[0];
const restorePod = (e) => find(e.restore, "Job").spec.template.spec;
const restoreCtr = (e) => restorePod(e).containers[0];
const smokeCtr = (e) => find(e.smoke, "Job").spec.template.spec.containers[0];
const setOption = (ctr, flag, value) => (ctr.command[ctr.command.indexOf(flag) + 1] = value);
const ingressPaths = (e) => find(e.app, "Ingress").spec.rules[0].http.paths;
const alertRules = (e) => find(e.app, "PrometheusRule").spec.groups.flatMap((g) => g.rules);
const dropAlerts = (e, re) => find(e.app, "PrometheusRule").spec.groups.forEach((g) => (g.rules = g.rules.filter((r) => !re.test(r.expr))));
const pvcOf = (e, name) => find(e.data, "PersistentVolumeClaim", name);

const BREAKS = [
  ["replicas 2", (e) => (depOf(e).spec.replicas = 2), "replicas"],
  ["RollingUpdate", (e) => (depOf(e).spec.strategy = { type: "RollingUpdate" }), "Recreate"],
  ["runAsUser 0", (e) => (depOf(e).spec.template.spec.securityContext.runAsUser = 0), "run as 1000"],
  ["writable root fs", (e) => (ctrOf(e).securityContext.readOnlyRootFilesystem = false), "readOnlyRootFilesystem"],
  ["no drop ALL", (e) => (ctrOf(e).securityContext.capabilities.drop = []), "drop ALL"],
  ["service links", (e) => (depOf(e).spec.template.spec.enableServiceLinks = true), "enableServiceLinks"],
  ["readiness on /v1/health", (e) => (ctrOf(e).readinessProbe.httpGet.path = "/v1/health"), "readinessProbe"],
  ["liveness on /v1/ready", (e) => (ctrOf(e).livenessProbe.httpGet.path = "/v1/ready"), "livenessProbe"],
  ["short startup probe", (e) => (ctrOf(e).startupProbe.failureThreshold = 3), "30 min"],
  ["container port 8080", (e) => (ctrOf(e).ports[0].containerPort = 8080), "container port"],
  ["bind port 9000", (e) => envSet(e, "STEMEDB_BIND_ADDR", "0.0.0.0:9000"), "STEMEDB_BIND_ADDR"],
  ["service port", (e) => (find(e.app, "Service").spec.ports[0].port = 80), "Service stemedb-api must expose"],
  ["grace 20 s", (e) => (depOf(e).spec.template.spec.terminationGracePeriodSeconds = 20), "terminationGracePeriodSeconds"],
  ["drain 60 s", (e) => envSet(e, "STEMEDB_DRAIN_TIMEOUT_MS", "60000"), "terminationGracePeriodSeconds"],
  ["WAL dir off its volume", (e) => envSet(e, "STEMEDB_WAL_DIR", "/var/lib/stemedb/db/wal"), "STEMEDB_WAL_DIR"],
  ["DB dir at the mount point", (e) => envSet(e, "STEMEDB_DB_DIR", "/var/lib/stemedb/db"), "backup-tmp"],
  ["unknown variable", (e) => ctrOf(e).env.push({ name: "STEMEDB_WAL_SYNCH", value: "always" }), "STEMEDB_WAL_SYNCH"],
  ["root key inline", (e) => (ctrOf(e).env.find((x) => x.name === "STEMEDB_ROOT_API_KEY").valueFrom = undefined), "STEMEDB_ROOT_API_KEY"],
  ["image by tag in prod", (e) => (ctrOf(e).image = "registry.example.com/stemedb:0.1.0"), "pinned by digest"],
  ["blocking PDB", (e) => e.app.push({ apiVersion: "policy/v1", kind: "PodDisruptionBudget", metadata: { name: "x", namespace: NAMESPACE }, spec: { minAvailable: 1 } }), "block kubectl drain"],
  // data safety
  ["PVC in the app render", (e) => e.app.push(clone(pvcOf(e, "stemedb-db"))), "app render contains PersistentVolumeClaim"],
  ["restore Job in the app render", (e) => e.app.push(clone(find(e.restore, "Job"))), "app render contains Job/stemedb-restore"],
  ["Namespace in the app render", (e) => e.app.push(clone(find(e.data, "Namespace"))), "app render contains Namespace"],
  ["StorageClass Delete", (e) => (find(e.data, "StorageClass").reclaimPolicy = "Delete"), "reclaimPolicy Retain"],
  ["StorageClass without reclaimPolicy", (e) => delete find(e.data, "StorageClass").reclaimPolicy, "reclaimPolicy Retain"],
  ["PVC on Longhorn's default class", (e) => (pvcOf(e, "stemedb-wal").spec.storageClassName = "longhorn"), "must use a StorageClass of the data render"],
  ["no volume expansion", (e) => (find(e.data, "StorageClass").allowVolumeExpansion = false), "allow volume expansion"],
  ["RWX wal", (e) => (pvcOf(e, "stemedb-wal").spec.accessModes = ["ReadWriteMany"]), "ReadWriteOnce"],
  ["Deployment mounts a missing PVC", (e) => (depOf(e).spec.template.spec.volumes.find((v) => v.name === "wal").persistentVolumeClaim.claimName = "stemedb-wal2"), "does not create"],
  // public entry: data routes only
  ["/v1/admin on the public Ingress", (e) => ingressPaths(e).push({ ...clone(ingressPaths(e)[0]), path: "/v1/admin", pathType: "Prefix" }), "Ingress exposes GET /v1/admin/backup"],
  ["/ on the public Ingress", (e) => ingressPaths(e).push({ ...clone(ingressPaths(e)[0]), path: "/", pathType: "Prefix" }), "Ingress exposes GET /metrics"],
  ["/v1 on the public Ingress", (e) => (ingressPaths(e)[0] = { ...ingressPaths(e)[0], path: "/v1", pathType: "Prefix" }), "Ingress exposes POST /v1/admin/api-keys"],
  ["data route not routed", (e) => find(e.app, "Ingress").spec.rules[0].http.paths.splice(ingressPaths(e).findIndex((p) => p.path === "/v1/query"), 1), "does not route the data route GET /v1/query"],
  ["Service NodePort", (e) => (find(e.app, "Service").spec.type = "NodePort"), "must be ClusterIP"],
  // TLS issuance through the NetworkPolicies
  ["no HTTP-01 solver policy", (e) => (e.app = e.app.filter((o) => o.metadata.name !== "acme-http01-solver")), "HTTP-01 solver"],
  ["HTTP-01 solver policy on port 80", (e) => (find(e.app, "NetworkPolicy", "acme-http01-solver").spec.ingress[0].ports[0].port = 80), "HTTP-01 solver"],
  ["API policy without Traefik", (e) => find(e.app, "NetworkPolicy", "stemedb-api").spec.ingress[0].from.splice(0, 1), "must admit Traefik"],
  // the rate-limit decision
  ["per-client-IP rate limit", (e) => e.app.push({ apiVersion: "traefik.io/v1alpha1", kind: "Middleware", metadata: { name: "rl", namespace: NAMESPACE }, spec: { rateLimit: { average: 500, burst: 1000 } } }), "keyed on the client IP"],
  ["IP allow-list", (e) => e.app.push({ apiVersion: "traefik.io/v1alpha1", kind: "Middleware", metadata: { name: "allow", namespace: NAMESPACE }, spec: { ipAllowList: { sourceRange: ["10.0.0.0/8"] } } }), "IP allow-list"],
  ["Ingress names a missing Middleware", (e) => (find(e.app, "Ingress").metadata.annotations["traefik.ingress.kubernetes.io/router.middlewares"] = "stemedb-stemedb-ratelimit@kubernetescrd"), "is not a Middleware of this render"],
  // backup CronJob
  ["CronJob Allow", (e) => (find(e.app, "CronJob").spec.concurrencyPolicy = "Allow"), "Forbid"],
  ["CronJob wrong port", (e) => setOption(cronCtr(e), "--url", "http://stemedb-api.stemedb.svc:8080"), "--url"],
  ["CronJob with the root key", (e) => (cronCtr(e).env.find((x) => x.name === "STEMEDB_ADMIN_KEY").valueFrom.secretKeyRef = { name: "stemedb-root-key", key: "STEMEDB_ROOT_API_KEY" }), "must not use the root key"],
  ["CronJob key in the rclone Secret", (e) => (cronCtr(e).env.find((x) => x.name === "STEMEDB_ADMIN_KEY").valueFrom.secretKeyRef.name = cronCtr(e).envFrom[0].secretRef.name), "must not also be its envFrom"],
  // restore Job
  ["restore Job missing", (e) => (e.restore = []), "restore Job stemedb-restore missing"],
  ["restore WAL mounted elsewhere", (e) => (restoreCtr(e).volumeMounts.find((m) => m.name === "wal").mountPath = "/restore/wal"), "mount exactly the Deployment's volumes"],
  ["restore without the DB volume", (e) => (restoreCtr(e).volumeMounts = restoreCtr(e).volumeMounts.filter((m) => m.name !== "db")), "mount exactly the Deployment's volumes"],
  ["restore --wal-dir mismatch", (e) => setOption(restoreCtr(e), "--wal-dir", "/var/lib/stemedb/db/wal"), "--wal-dir must be the Deployment's STEMEDB_WAL_DIR"],
  ["restore --db-dir at the mount point", (e) => setOption(restoreCtr(e), "--db-dir", "/var/lib/stemedb/db"), "--db-dir must be the Deployment's STEMEDB_DB_DIR"],
  ["restore from another remote", (e) => (restoreCtr(e).env.find((x) => x.name === "BACKUP_REMOTE").value = "other:bucket"), "must be the CronJob's remote"],
  ["restore beside a running server", (e) => delete restorePod(e).affinity, "podAntiAffinity"],
  ["restore holding the backup key", (e) => restoreCtr(e).env.push(clone(cronCtr(e).env.find((x) => x.name === "STEMEDB_ADMIN_KEY"))), "must hold none"],
  ["restore as root", (e) => (restorePod(e).securityContext.runAsUser = 0), "restore Job: pod must run as 1000"],
  ["restore with an older image", (e) => (restoreCtr(e).image = "stemedb:0.0.9"), "restore Job image must be the server image"],
  // smoke Job
  ["smoke Job missing", (e) => (e.smoke = []), "smoke Job stemedb-smoke missing"],
  ["smoke against the wrong port", (e) => setOption(smokeCtr(e), "--url", "http://stemedb-api.stemedb.svc:8080"), "smoke Job --url"],
  ["smoke retried", (e) => (find(e.smoke, "Job").spec.backoffLimit = 3), "backoffLimit must be 0"],
  ["smoke pods not admitted", (e) => (find(e.app, "NetworkPolicy", "stemedb-api").spec.ingress[0].from = find(e.app, "NetworkPolicy", "stemedb-api").spec.ingress[0].from.filter((f) => f.podSelector?.matchLabels?.["app.kubernetes.io/component"] !== "smoke")), "must admit the smoke pods"],
  // alerts
  ["unknown metric", (e) => (alertRules(e).find((r) => /stemedb_wal_fsync/.test(r.expr)).expr = "stemedb_wal_fsync_seconds > 1"), "not a metric the server exports"],
  ["no OOM alert", (e) => dropAlerts(e, /OOMKilled/), "OOMKilled"],
  ["no target-missing alert", (e) => dropAlerts(e, /absent\(\s*up/), "scrape target missing"],
  ["target-down alert on another job", (e) => (alertRules(e).find((r) => /==\s*0/.test(r.expr)).expr = 'up{namespace="stemedb", job="stemedb"} == 0'), "scrape target down"],
  ["no crash-loop alert", (e) => dropAlerts(e, /CrashLoopBackOff/), "crash-looping"],
  ["crash-loop alert after 30m", (e) => (alertRules(e).find((r) => /CrashLoopBackOff/.test(r.expr)).for = "30m"), "too slow"],
  ["no relative disk alert", (e) => dropAlerts(e, /kubelet_volume_stats_capacity_bytes/), "volume low relative to its size"],
  ["no never-succeeded backup alert", (e) => dropAlerts(e, /absent\(\s*kube_cronjob/), "no successful backup yet"],
  // dashboard
  ["no dashboard ConfigMap", (e) => (e.app = e.app.filter((o) => o !== dashboardOf(e.app))), "Grafana dashboard) missing"],
  ["dashboard without the sidecar label", (e) => delete dashboardOf(e.app).metadata.labels.grafana_dashboard, "grafana_dashboard"],
  ["dashboard on an unknown metric", (e) => (dashboardOf(e.app).data["stemedb-dashboard.json"] = dashboardOf(e.app).data["stemedb-dashboard.json"].replace("stemedb_wal_fsync_latency_seconds_bucket", "stemedb_wal_fsync_seconds_bucket")), "stemedb_wal_fsync_seconds_bucket"],
];

async function selfTest(prod, ctx, dockerfile) {
  let caught = 0;
  const missed = [];
  for (const [what, breakIt, expect] of BREAKS) {
    const e = clone(prod);
    breakIt(e);
    const errs = checkPolicies(e, "prod", ctx);
    if (errs.some((x) => x.includes(expect))) caught++;
    else missed.push(`${what} (expected an error mentioning '${expect}'; got ${JSON.stringify(errs)})`);
  }
  // a documented variable that stops being documented
  const undocumented = { ...ctx, docVars: new Set([...ctx.docVars].filter((v) => v !== "STEMEDB_DRAIN_TIMEOUT_MS")) };
  if (checkPolicies(clone(prod), "prod", undocumented).some((x) => x.includes("not documented in docs/configuration.md"))) caught++;
  else missed.push("undocumented variable accepted");
  // schema and unknown-field layers
  const bad = clone(prod);
  depOf(bad).spec.replicas = "one";
  if ((await schemaCheck([depOf(bad)], "self-test")).length) caught++;
  else missed.push("schema: replicas 'one' accepted");
  const retired = clone(find(prod.app, "ExternalSecret"));
  retired.apiVersion = "external-secrets.io/v1beta1";
  if ((await schemaCheck([retired], "self-test")).some((x) => x.includes("not served since external-secrets v0.17"))) caught++;
  else missed.push("external-secrets.io/v1beta1 accepted");
  const esUnknown = clone(find(prod.app, "ExternalSecret"));
  esUnknown.spec.refreshIntervall = "1h";
  if ((await schemaCheck([esUnknown], "self-test")).some((x) => x.includes('"refreshIntervall"'))) caught++;
  else missed.push("ExternalSecret unknown field refreshIntervall accepted");
  const esType = clone(find(prod.app, "ExternalSecret"));
  esType.spec.target.creationPolicy = "Sometimes";
  if ((await schemaCheck([esType], "self-test")).length) caught++;
  else missed.push("ExternalSecret creationPolicy 'Sometimes' accepted");
  const unk = clone(prod);
  ctrOf(unk).securityContext.readOnlyRootFs = true;
  find(unk.app, "Middleware").spec.headers.stsSecs = 1;
  find(unk.data, "StorageClass").reclaimPolicyy = "Retain";
  const tsErrs = unknownFieldCheck({ selftest: [...unk.app, ...unk.data] });
  if (['"readOnlyRootFs"', '"stsSecs"', '"reclaimPolicyy"'].every((f) => tsErrs.some((x) => x.includes(f)))) caught++;
  else missed.push(`unknown fields not caught: ${tsErrs.join("; ")}`);
  if (checkDockerfile(dockerfile.replace("USER 1000:1000", "USER root"), depOf(prod)).length) caught++;
  else missed.push("Dockerfile USER root accepted");
  if (checkDockerfile(dockerfile.replace("      rclone \\\n", "      rclone \\\n      g++ \\\n"), depOf(prod)).length) caught++;
  else missed.push("Dockerfile with g++ accepted");
  return { caught, total: BREAKS.length + 8, missed };
}

// ---- main ---------------------------------------------------------------

async function main() {
  const args = process.argv.slice(2);
  const ctx = { serverVars: serverVariables(), docVars: documentedVariables(), metrics: serverMetrics(), routes: serverRoutes() };
  const envs = Object.fromEntries(Object.keys(ENVIRONMENTS).map((k) => [k, renderEnvironment(k)]));
  const dumpAt = args.indexOf("--dump");
  if (dumpAt >= 0) for (const [k, e] of Object.entries(envs)) fs.writeFileSync(path.join(args[dumpAt + 1], `${k}.json`), JSON.stringify(e, null, 2));

  const errors = [...checkInstalledPackages()];
  let objects = 0;
  let renders = 0;
  const sets = {};
  for (const [label, e] of Object.entries(envs)) {
    for (const [part, objs] of Object.entries(e)) {
      renders++;
      objects += objs.length;
      sets[`${label}_${part}`] = objs;
      errors.push(...(await schemaCheck(objs, `${label} ${part}`)));
    }
    errors.push(...checkPolicies(e, label, ctx));
  }
  const standby = { app: render("k3s/overlays/standby"), data: [...envs.prod.data, ...render("k3s/data/standby")] };
  for (const [part, objs] of Object.entries(standby)) {
    renders++;
    objects += objs.length;
    sets[`standby_${part}`] = objs;
    errors.push(...(await schemaCheck(objs, `standby ${part}`)));
  }
  errors.push(...checkStandby(standby, ctx));
  errors.push(...unknownFieldCheck(sets));
  for (const label of Object.keys(ENVIRONMENTS)) if (ENVIRONMENTS[label].restore) errors.push(...checkRestoreNaming(label));
  // conformance.sh runs the prod env: every overlay must give the server the same one
  const envJson = (e) => JSON.stringify(ctrOf(e).env);
  for (const k of Object.keys(envs)) if (envJson(envs[k]) !== envJson(envs.prod)) errors.push(`${k}: the server env differs from prod's (conformance covers prod's)`);
  const dockerfile = fs.readFileSync(path.join(repo, "Dockerfile"), "utf8");
  errors.push(...checkDockerfile(dockerfile, depOf(envs.prod)));
  for (const e of errors) console.error(`FAIL ${e}`);
  const releases = [...new Set(Object.values(SCHEMAS).map((s) => s.release))].join(", ");
  console.log(`validate: ${renders} renders, ${objects} objects; schemas of ${releases}; schema + unknown-field + policy + Dockerfile checks: ${errors.length} errors`);
  let selfFailed = 0;
  if (args.includes("--self-test")) {
    const r = await selfTest(envs.prod, ctx, dockerfile);
    // The standby's own checks (checkStandby), one break at a time.
    const standbyOf = (e) => find(e.app, "Deployment", "stemedb-standby");
    const standbyBreaks = [
      ["standby beside the primary", (e) => delete standbyOf(e).spec.template.spec.affinity, "another failure domain"],
      ["Service selects the standby", (e) => (find(e.app, "Service", "stemedb-api").spec.selector = { "app.kubernetes.io/name": "stemedb" }), "must not select the standby"],
      ["standby not in standby mode", (e) => (envOf(standbyOf(e).spec.template.spec.containers[0]).STEMEDB_STANDBY.value = "false"), "STEMEDB_STANDBY=true"],
      ["standby on the primary's volume", (e) => (standbyOf(e).spec.template.spec.volumes[0].persistentVolumeClaim.claimName = "stemedb-wal"), "PVC stemedb-standby-wal"],
    ];
    for (const [what, breakIt, expect] of standbyBreaks) {
      const e = clone(standby);
      breakIt(e);
      r.total++;
      if (checkStandby(e, ctx).some((x) => x.includes(expect))) r.caught++;
      else r.missed.push(`${what} (expected an error mentioning '${expect}')`);
    }
    for (const m of r.missed) console.error(`SELF-TEST MISSED ${m}`);
    console.log(`self-test: ${r.caught}/${r.total} deliberate breaks caught`);
    selfFailed = r.total - r.caught;
  }
  try {
    fs.rmdirSync(path.join(here, ".generated"));  // only if no other run still uses it
  } catch {}
  const failed = errors.length + selfFailed;
  console.log(`${failed ? 0 : 1} passed, ${failed ? 1 : 0} failed`);
  process.exit(failed ? 1 : 0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
