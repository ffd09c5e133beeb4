// Renders k3s/base and every overlay with `kubectl kustomize`, then checks:
//  1. schema: every object against its Kubernetes / CRD schema
//     (kubernetes-models, @kubernetes-models/{traefik,cert-manager,
//     external-secrets,prometheus-operator}); unknown kinds fail;
//  2. unknown fields: every object is type-checked by tsc as a literal of the
//     model's interface, so a field the API does not define is an error;
//  3. policy (the deployment contract, SPEC §2/§3/§6/§8): see checkPolicies.
// `--self-test` then breaks the rendered prod objects one way at a time and
// requires each break to be caught (a check that cannot fail is a defect).
//
// Usage: node validate.mjs [--self-test] [--dump DIR]   (run from anywhere)
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const OVERLAYS = { base: "k3s/base", dev: "k3s/overlays/dev", prod: "k3s/overlays/prod" };
const NAMESPACE = "stemedb";
const PORT = 18180;
const UID = 1000;

// apiVersion -> module exporting `<Kind>` (class) and `I<Kind>` (interface).
const MODULES = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "batch/v1": "kubernetes-models/batch/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  "traefik.io/v1alpha1": "@kubernetes-models/traefik/traefik.io/v1alpha1",
  "cert-manager.io/v1": "@kubernetes-models/cert-manager/cert-manager.io/v1",
  "external-secrets.io/v1beta1": "@kubernetes-models/external-secrets/external-secrets.io/v1beta1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};

// Variables that are not server settings but are documented elsewhere:
// stemectl reads STEMEDB_ADMIN_KEY (docs/stemectl.md); the backup job's own.
const STEMECTL_VARS = new Set(["STEMEDB_ADMIN_KEY", "STEMEDB_URL"]);
const BACKUP_EXTRA_VARS = new Set(["BACKUP_REMOTE", "HOME", "XDG_CACHE_HOME"]);
// Server settings beyond SPEC §2 that the manifests may set: the server's
// "transport and operations" settings (api/config.h, docs/configuration.md).
const SERVER_EXTRA_VARS = new Set(["STEMEDB_DRAIN_TIMEOUT_MS"]);

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

// ---- contract sources --------------------------------------------------

// The server's own table of settings (api/config.cc), name -> default.
function serverVariables() {
  const src = fs.readFileSync(path.join(repo, "api/config.cc"), "utf8");
  const vars = new Map();
  for (const m of src.matchAll(/\{"(STEMEDB_[A-Z0-9_]+)",\s*"([^"]*)"/g)) vars.set(m[1], m[2]);
  if (vars.size < 15) fail(`api/config.cc: found only ${vars.size} STEMEDB_* settings`);
  return vars;
}

function specText() {
  const candidates = [process.env.STEMEDB_SPEC, path.join(repo, "../shared/SPEC.md"), path.join(repo, "docs/SPEC.md")];
  for (const c of candidates) if (c && fs.existsSync(c)) return fs.readFileSync(c, "utf8");
  fail(`SPEC.md not found (tried ${candidates.filter(Boolean).join(", ")}; set STEMEDB_SPEC)`);
}

function specSection(text, n) {
  const start = text.indexOf(`\n## ${n}.`);
  if (start < 0) fail(`SPEC has no section ${n}`);
  const end = text.indexOf("\n## ", start + 4);
  return text.slice(start, end < 0 ? undefined : end);
}

export function specVariables(text) {
  return new Set([...specSection(text, 2).matchAll(/`(STEMEDB_[A-Z0-9_]+)`/g)].map((m) => m[1]));
}

// SPEC §6 metric names; histograms also expose _bucket/_sum/_count.
export function specMetrics(text) {
  const sec = specSection(text, 6);
  const names = new Set();
  for (const m of sec.matchAll(/`(stemedb_[a-z0-9_]+)(\{[^}]*\})?`(\s*\(histogram)?/g)) {
    names.add(m[1]);
    if (m[3]) for (const s of ["_bucket", "_sum", "_count"]) names.add(m[1] + s);
  }
  return names;
}

export function ruleMetricNames(objs) {
  const names = new Set();
  for (const o of objs.filter((x) => x.kind === "PrometheusRule"))
    for (const g of o.spec.groups) for (const r of g.rules) for (const m of String(r.expr).matchAll(/\b(stemedb_[a-z0-9_]+)/g)) names.add(m[1]);
  return names;
}

// ---- schema and unknown-field checks -----------------------------------

async function schemaCheck(objs, label) {
  const errors = [];
  for (const o of objs) {
    const mod = MODULES[o.apiVersion];
    const id = `${label}: ${o.kind}/${o.metadata?.name}`;
    if (!mod) {
      errors.push(`${id}: no schema for apiVersion ${o.apiVersion}`);
      continue;
    }
    const Model = (await import(mod))[o.kind];
    if (!Model) {
      errors.push(`${id}: no schema for kind ${o.kind} in ${o.apiVersion}`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (e) {
      errors.push(`${id}: schema: ${String(e.message).split("\n").slice(0, 4).join(" | ")}`);
    }
  }
  return errors;
}

// tsc rejects object-literal properties its interface does not declare:
// that is the "unknown field" check the JSON-schema validators above skip.
function unknownFieldCheck(sets) {
  const dir = path.join(here, ".generated");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir);
  const files = [];
  for (const [label, objs] of Object.entries(sets)) {
    const imports = new Map();
    const lines = [];
    objs.forEach((o, i) => {
      const mod = MODULES[o.apiVersion];
      if (!mod) return;
      const alias = `I${o.kind}_${Object.keys(MODULES).indexOf(o.apiVersion)}`;
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
  }
}

// ---- policy -----------------------------------------------------------

const find = (objs, kind, name) => objs.find((o) => o.kind === kind && (!name || o.metadata?.name === name));
const envOf = (c) => Object.fromEntries((c.env || []).map((e) => [e.name, e]));
const matches = (selector, labels) => Object.entries(selector || {}).every(([k, v]) => labels?.[k] === v);

function portNumber(container, port) {
  if (typeof port === "number") return port;
  return (container.ports || []).find((p) => p.name === port)?.containerPort;
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
  const tmp = (container.volumeMounts || []).find((m) => m.mountPath === "/tmp");
  const tmpVol = tmp && (pod.volumes || []).find((v) => v.name === tmp.name);
  if (!tmpVol?.emptyDir) err(`${id}: /tmp must be an emptyDir (read-only root filesystem)`);
}

export function checkPolicies(objs, label, ctx) {
  const errors = [];
  const err = (m) => errors.push(`${label}: ${m}`);
  const { serverVars, specVars, metrics } = ctx;

  if (!find(objs, "Namespace", NAMESPACE)) err(`Namespace ${NAMESPACE} missing`);
  for (const o of objs) if (o.kind !== "Namespace" && o.metadata?.namespace !== NAMESPACE) err(`${o.kind}/${o.metadata?.name} not in namespace ${NAMESPACE}`);

  const deploys = objs.filter((o) => o.kind === "Deployment");
  const dep = find(objs, "Deployment", "stemedb-api");
  if (!dep || deploys.length !== 1) return [...errors, `${label}: exactly one Deployment stemedb-api expected`];
  const spec = dep.spec;
  const pod = spec.template.spec;
  const c = pod.containers.find((x) => x.name === "stemedb");
  if (!c || pod.containers.length !== 1) return [...errors, `${label}: Deployment must have one container "stemedb"`];
  const env = envOf(c);
  const podLabels = spec.template.metadata.labels;

  if (spec.replicas !== 1) err(`Deployment replicas must be 1 (one process owns the data), got ${spec.replicas}`);
  if (spec.strategy?.type !== "Recreate") err(`Deployment strategy must be Recreate (RWO volumes + lock), got ${spec.strategy?.type}`);
  if (!matches(spec.selector.matchLabels, podLabels)) err("Deployment selector does not match the pod labels");
  checkPodSecurity(pod, c, "Deployment", err);
  if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory) err("Deployment needs cpu/memory requests and a memory limit");

  // port: container, bind address, Service, annotations, probes
  const http = (c.ports || []).find((p) => p.name === "http");
  if (http?.containerPort !== PORT) err(`container port "http" must be ${PORT}`);
  const bind = env.STEMEDB_BIND_ADDR?.value || "";
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
  const drainMs = Number(env.STEMEDB_DRAIN_TIMEOUT_MS?.value ?? serverVars.get("STEMEDB_DRAIN_TIMEOUT_MS") ?? 20000);
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  if (!(grace >= drainMs / 1000 + 10)) err(`terminationGracePeriodSeconds (${grace}) must exceed the drain timeout (${drainMs / 1000} s) by >= 10 s`);

  // volumes: both PVCs RWO, mounted where the env points
  const mounts = Object.fromEntries((c.volumeMounts || []).map((m) => [m.mountPath, m.name]));
  const claimOf = (mountPath) => (pod.volumes || []).find((v) => v.name === mounts[mountPath])?.persistentVolumeClaim?.claimName;
  // The PVC a path lives on (its deepest enclosing mount), or undefined.
  const claimAt = (p) => {
    const m = Object.keys(mounts).filter((mp) => p === mp || p?.startsWith(mp + "/")).sort((a, b) => b.length - a.length)[0];
    return m && claimOf(m);
  };
  const wantClass = label === "dev" ? "local-path" : "longhorn";
  for (const [claim, v] of [["stemedb-wal", "STEMEDB_WAL_DIR"], ["stemedb-db", "STEMEDB_DB_DIR"]]) {
    const pvc = find(objs, "PersistentVolumeClaim", claim);
    if (!pvc) err(`PVC ${claim} missing`);
    else {
      if (JSON.stringify(pvc.spec.accessModes) !== '["ReadWriteOnce"]') err(`PVC ${claim} must be ReadWriteOnce only`);
      if (pvc.spec.storageClassName !== wantClass) err(`PVC ${claim} storageClassName must be ${wantClass}`);
    }
    const dir = env[v]?.value;
    if (!dir || claimAt(dir) !== claim) err(`${v} (${dir}) must be on PVC ${claim}`);
  }
  // The server builds backup checkpoints in <parent of DB_DIR>/backup-tmp by
  // hard-linking SSTs: that parent must be on the DB volume, not the root fs.
  const dbDir = env.STEMEDB_DB_DIR?.value || "";
  if (claimAt(path.posix.dirname(dbDir)) !== "stemedb-db") err(`the parent of STEMEDB_DB_DIR (${dbDir}) must be on PVC stemedb-db (backup-tmp scratch)`);
  const dataDir = env.STEMEDB_DATA_DIR?.value;
  if (!dataDir || !claimAt(dataDir))
    err(`STEMEDB_DATA_DIR (${dataDir}) must be on a PVC (lock file, root.key)`);
  const rk = env.STEMEDB_ROOT_API_KEY?.valueFrom?.secretKeyRef;
  if (!rk || rk.key !== "STEMEDB_ROOT_API_KEY") err("STEMEDB_ROOT_API_KEY must come from a Secret (secretKeyRef key STEMEDB_ROOT_API_KEY)");
  if (env.STEMEDB_AUTH_ENABLED?.value === "false" || env.STEMEDB_UNSAFE_SKIP_SIGNATURES?.value === "true") err("auth and signatures must stay on");

  // Service, ServiceMonitor, NetworkPolicy, Ingress agree on port and labels
  const svc = find(objs, "Service", "stemedb-api");
  const sport = svc?.spec.ports.find((p) => p.port === PORT);
  if (!svc || !sport) err(`Service stemedb-api must expose ${PORT}`);
  else {
    if (portNumber(c, sport.targetPort) !== PORT) err("Service targetPort must resolve to the container port");
    if (!matches(svc.spec.selector, podLabels)) err("Service selector does not match the pod labels");
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
  const sm = find(objs, "ServiceMonitor");
  if (sm) {
    if (!matches(sm.spec.selector.matchLabels, svc?.metadata.labels)) err("ServiceMonitor selector does not match the Service labels");
    if (!sm.spec.endpoints.every((e) => e.port === sport?.name && (e.path ?? "/metrics") === "/metrics")) err("ServiceMonitor must scrape the Service port at /metrics");
  } else if (label !== "dev") err("ServiceMonitor missing");
  const ing = find(objs, "Ingress");
  if (ing) {
    const a = ing.metadata.annotations || {};
    if (!a["cert-manager.io/cluster-issuer"] && !a["cert-manager.io/issuer"]) err("Ingress needs a cert-manager issuer annotation");
    const hosts = ing.spec.rules.map((r) => r.host).sort();
    if (JSON.stringify((ing.spec.tls || []).flatMap((t) => t.hosts).sort()) !== JSON.stringify(hosts)) err("Ingress TLS hosts must equal the rule hosts");
    for (const r of ing.spec.rules)
      for (const p of r.http.paths) {
        const b = p.backend.service;
        if (b.name !== svc?.metadata.name || (b.port.name ?? b.port.number) !== (b.port.name ? sport?.name : PORT)) err("Ingress backend must be Service stemedb-api port http");
        if (p.path === "/" || p.path.startsWith("/metrics")) err("Ingress must not expose /metrics");
      }
    const mw = find(objs, "Middleware");
    const ref = `${NAMESPACE}-${mw?.metadata.name}@kubernetescrd`;
    if (!mw?.spec.rateLimit || !(a["traefik.ingress.kubernetes.io/router.middlewares"] || "").split(",").includes(ref)) err(`Ingress must use the rateLimit Middleware (${ref})`);
  } else if (label !== "dev") err("Ingress missing");

  // Secrets: in clusters with external-secrets, every referenced Secret is made by an ExternalSecret
  const es = objs.filter((o) => o.kind === "ExternalSecret");
  if (label !== "dev") {
    const targets = new Set(es.map((e) => e.spec.target?.name ?? e.metadata.name));
    if (!targets.has(rk?.name)) err(`no ExternalSecret creates Secret ${rk?.name}`);
  }

  // PodDisruptionBudget: with one replica, minAvailable >= 1 blocks drains forever
  for (const pdb of objs.filter((o) => o.kind === "PodDisruptionBudget"))
    if ((pdb.spec.minAvailable ?? 0) !== 0 || pdb.spec.maxUnavailable === 0) err(`PodDisruptionBudget ${pdb.metadata.name} would block kubectl drain with 1 replica`);

  // backup CronJob
  const cj = find(objs, "CronJob", "stemedb-backup");
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
    const cmd = [...(jc.command || []), ...(jc.args || [])];
    if (cmd[0] !== "stemectl" || cmd[1] !== "backup") err("CronJob must run `stemectl backup`");
    const opt = (f) => cmd[cmd.indexOf(f) + 1];
    if (!cmd.includes("--remote") || !cmd.includes("--keep") || !(Number(opt("--keep")) >= 1)) err("CronJob needs --remote and --keep N");
    const want = `http://${svc?.metadata.name}.${NAMESPACE}.svc:${PORT}`;
    if (opt("--url") !== want) err(`CronJob --url must be ${want}`);
    const jenv = envOf(jc);
    if (!jenv.STEMEDB_ADMIN_KEY?.valueFrom?.secretKeyRef) err("CronJob STEMEDB_ADMIN_KEY must come from a Secret");
    for (const m of cmd.join(" ").matchAll(/\$\(([A-Z0-9_]+)\)/g)) if (!jenv[m[1]]) err(`CronJob command uses $(${m[1]}) but does not set it`);
    const bnp = find(objs, "NetworkPolicy", "stemedb-backup");
    const jlabels = s.jobTemplate.spec.template.metadata?.labels;
    if (!bnp || !matches(bnp.spec.podSelector.matchLabels, jlabels)) err("NetworkPolicy stemedb-backup must select the backup pods");
    if (np && !(np.spec.ingress || []).some((r) => (r.from || []).some((f) => !f.namespaceSelector && matches(f.podSelector?.matchLabels, jlabels))))
      err("NetworkPolicy stemedb-api must admit the backup pods");
    if (label !== "dev") {
      const targets = new Set(es.map((e) => e.spec.target?.name ?? e.metadata.name));
      for (const ref of [jenv.STEMEDB_ADMIN_KEY?.valueFrom?.secretKeyRef?.name, ...(jc.envFrom || []).map((e) => e.secretRef?.name)])
        if (ref && !targets.has(ref)) err(`no ExternalSecret creates Secret ${ref}`);
    }
    for (const name of Object.keys(jenv))
      if (!(STEMECTL_VARS.has(name) || BACKUP_EXTRA_VARS.has(name) || name.startsWith("RCLONE_"))) err(`CronJob env ${name} is neither a stemectl, rclone nor documented backup variable`);
  }

  // every STEMEDB_* the server gets is a setting it knows and SPEC §2 names
  // (or one of the server's documented operational extras in api/config.cc)
  for (const name of Object.keys(env)) {
    if (!serverVars.has(name)) err(`Deployment env ${name} is not a setting the server knows (api/config.cc)`);
    else if (!specVars.has(name) && !SERVER_EXTRA_VARS.has(name)) err(`Deployment env ${name} is neither in SPEC §2 nor a documented extra`);
  }
  if (c.envFrom?.length) err("Deployment must not use envFrom (every variable explicit and checked)");

  // PrometheusRule: required alerts and SPEC §6 metric names only
  const pr = find(objs, "PrometheusRule");
  if (pr) {
    const rules = pr.spec.groups.flatMap((g) => g.rules);
    const exprs = rules.map((r) => String(r.expr)).join("\n");
    const required = {
      "pod not running": /kube_pod_status_phase/,
      "WAL fsync p99": /histogram_quantile\(\s*0\.99[\s\S]*stemedb_wal_fsync_latency_seconds_bucket/,
      "volume nearly full": /stemedb_disk_free_bytes/,
      "429 saturation": /stemedb_rate_limited_total/,
      "5xx rate": /stemedb_http_requests_total\{[^}]*status=~"5\.\."/,
      OOMKilled: /kube_pod_container_status_last_terminated_reason\{[^}]*reason="OOMKilled"/,
    };
    for (const [what, re] of Object.entries(required)) if (!re.test(exprs)) err(`PrometheusRule lacks the ${what} alert`);
    for (const r of rules) if (!r.labels?.severity || !r.annotations?.summary) err(`alert ${r.alert} needs a severity label and a summary`);
    for (const m of ruleMetricNames([pr])) if (!metrics.has(m)) err(`PrometheusRule uses ${m}, which is not a SPEC §6 metric`);
  } else if (label !== "dev") err("PrometheusRule missing");

  if (label === "dev") for (const k of ["Ingress", "Middleware", "ExternalSecret", "ServiceMonitor", "PrometheusRule"]) if (find(objs, k)) err(`dev must not need ${k} (no such controller on a plain k3s)`);
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
const depOf = (objs) => find(objs, "Deployment", "stemedb-api");
const ctrOf = (objs) => depOf(objs).spec.template.spec.containers[0];
const envSet = (objs, name, value) => (ctrOf(objs).env.find((e) => e.name === name).value = value);
const BREAKS = [
  ["replicas 2", (o) => (depOf(o).spec.replicas = 2), "replicas"],
  ["RollingUpdate", (o) => (depOf(o).spec.strategy = { type: "RollingUpdate" }), "Recreate"],
  ["runAsUser 0", (o) => (depOf(o).spec.template.spec.securityContext.runAsUser = 0), "run as 1000"],
  ["writable root fs", (o) => (ctrOf(o).securityContext.readOnlyRootFilesystem = false), "readOnlyRootFilesystem"],
  ["no drop ALL", (o) => (ctrOf(o).securityContext.capabilities.drop = []), "drop ALL"],
  ["service links", (o) => (depOf(o).spec.template.spec.enableServiceLinks = true), "enableServiceLinks"],
  ["readiness on /v1/health", (o) => (ctrOf(o).readinessProbe.httpGet.path = "/v1/health"), "readinessProbe"],
  ["liveness on /v1/ready", (o) => (ctrOf(o).livenessProbe.httpGet.path = "/v1/ready"), "livenessProbe"],
  ["short startup probe", (o) => (ctrOf(o).startupProbe.failureThreshold = 3), "30 min"],
  ["container port 8080", (o) => (ctrOf(o).ports[0].containerPort = 8080), "container port"],
  ["bind port 9000", (o) => envSet(o, "STEMEDB_BIND_ADDR", "0.0.0.0:9000"), "STEMEDB_BIND_ADDR"],
  ["service port", (o) => (find(o, "Service").spec.ports[0].port = 80), "Service stemedb-api must expose"],
  ["grace 20 s", (o) => (depOf(o).spec.template.spec.terminationGracePeriodSeconds = 20), "terminationGracePeriodSeconds"],
  ["drain 60 s", (o) => envSet(o, "STEMEDB_DRAIN_TIMEOUT_MS", "60000"), "terminationGracePeriodSeconds"],
  ["RWX wal", (o) => (find(o, "PersistentVolumeClaim", "stemedb-wal").spec.accessModes = ["ReadWriteMany"]), "ReadWriteOnce"],
  ["WAL dir off its volume", (o) => envSet(o, "STEMEDB_WAL_DIR", "/var/lib/stemedb/db/wal"), "STEMEDB_WAL_DIR"],
  ["DB dir at the mount point", (o) => envSet(o, "STEMEDB_DB_DIR", "/var/lib/stemedb/db"), "backup-tmp"],
  ["unknown variable", (o) => ctrOf(o).env.push({ name: "STEMEDB_WAL_SYNCH", value: "always" }), "STEMEDB_WAL_SYNCH"],
  ["undocumented server setting", (o) => ctrOf(o).env.push({ name: "STEMEDB_MAX_CONNECTIONS", value: "10" }), "nor a documented extra"],
  ["root key inline", (o) => (ctrOf(o).env.find((e) => e.name === "STEMEDB_ROOT_API_KEY").valueFrom = undefined), "STEMEDB_ROOT_API_KEY"],
  ["CronJob Allow", (o) => (find(o, "CronJob").spec.concurrencyPolicy = "Allow"), "Forbid"],
  ["CronJob wrong port", (o) => (find(o, "CronJob").spec.jobTemplate.spec.template.spec.containers[0].command[3] = "http://stemedb-api.stemedb.svc:8080"), "--url"],
  ["unknown metric", (o) => (find(o, "PrometheusRule").spec.groups[0].rules[0].expr = "stemedb_wal_fsync_seconds > 1"), "not a SPEC §6 metric"],
  ["no OOM alert", (o) => find(o, "PrometheusRule").spec.groups.forEach((g) => (g.rules = g.rules.filter((r) => !/OOMKilled/.test(r.expr)))), "OOMKilled"],
  ["blocking PDB", (o) => o.push({ apiVersion: "policy/v1", kind: "PodDisruptionBudget", metadata: { name: "x", namespace: NAMESPACE }, spec: { minAvailable: 1 } }), "block kubectl drain"],
];

async function selfTest(prod, ctx, dockerfile) {
  let caught = 0;
  const missed = [];
  for (const [what, breakIt, expect] of BREAKS) {
    const objs = clone(prod);
    breakIt(objs);
    const errs = checkPolicies(objs, "prod", ctx);
    if (errs.some((e) => e.includes(expect))) caught++;
    else missed.push(`${what} (expected an error mentioning '${expect}'; got ${JSON.stringify(errs)})`);
  }
  // schema and unknown-field layers
  const bad = clone(prod);
  depOf(bad).spec.replicas = "one";
  if ((await schemaCheck([depOf(bad)], "self-test")).length) caught++;
  else missed.push("schema: replicas 'one' accepted");
  const unk = clone(prod);
  ctrOf(unk).securityContext.readOnlyRootFs = true;
  find(unk, "Middleware").spec.rateLimit.avg = 1;
  const tsErrs = unknownFieldCheck({ selftest: unk });
  if (tsErrs.some((e) => e.includes('"readOnlyRootFs"')) && tsErrs.some((e) => e.includes('"avg"'))) caught++;
  else missed.push(`unknown fields not caught: ${tsErrs.join("; ")}`);
  if (checkDockerfile(dockerfile.replace("USER 1000:1000", "USER root"), depOf(prod)).length) caught++;
  else missed.push("Dockerfile USER root accepted");
  if (checkDockerfile(dockerfile.replace("      rclone \\\n", "      rclone \\\n      g++ \\\n"), depOf(prod)).length) caught++;
  else missed.push("Dockerfile with g++ accepted");
  return { caught, total: BREAKS.length + 4, missed };
}

// ---- main ---------------------------------------------------------------

async function main() {
  const args = process.argv.slice(2);
  const spec = specText();
  const ctx = { serverVars: serverVariables(), specVars: specVariables(spec), metrics: specMetrics(spec) };
  if (ctx.metrics.size < 11) fail(`SPEC §6: parsed only ${ctx.metrics.size} metric names`);
  const sets = Object.fromEntries(Object.entries(OVERLAYS).map(([k, d]) => [k, render(d)]));
  const dumpAt = args.indexOf("--dump");
  if (dumpAt >= 0) for (const [k, objs] of Object.entries(sets)) fs.writeFileSync(path.join(args[dumpAt + 1], `${k}.json`), JSON.stringify(objs, null, 2));

  const errors = [];
  let objects = 0;
  for (const [label, objs] of Object.entries(sets)) {
    objects += objs.length;
    errors.push(...(await schemaCheck(objs, label)));
    errors.push(...checkPolicies(objs, label, ctx));
  }
  errors.push(...unknownFieldCheck(sets));
  // conformance.sh runs the prod env: every overlay must give the server the same one
  const envJson = (objs) => JSON.stringify(ctrOf(objs).env);
  for (const k of Object.keys(sets)) if (envJson(sets[k]) !== envJson(sets.prod)) errors.push(`${k}: the server env differs from prod's (conformance covers prod's)`);
  const dockerfile = fs.readFileSync(path.join(repo, "Dockerfile"), "utf8");
  errors.push(...checkDockerfile(dockerfile, depOf(sets.prod)));
  for (const e of errors) console.error(`FAIL ${e}`);
  console.log(`validate: ${Object.keys(sets).length} renders, ${objects} objects, schema + unknown-field + policy + Dockerfile checks: ${errors.length} errors`);
  let selfFailed = 0;
  if (args.includes("--self-test")) {
    const r = await selfTest(sets.prod, ctx, dockerfile);
    for (const m of r.missed) console.error(`SELF-TEST MISSED ${m}`);
    console.log(`self-test: ${r.caught}/${r.total} deliberate breaks caught`);
    selfFailed = r.total - r.caught;
  }
  fs.rmSync(path.join(here, ".generated"), { recursive: true, force: true });
  const failed = errors.length + selfFailed;
  console.log(`${failed ? 0 : 1} passed, ${failed ? 1 : 0} failed`);
  process.exit(failed ? 1 : 0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
