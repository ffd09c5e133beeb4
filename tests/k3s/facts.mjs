// Prints what conformance.sh needs from a rendered overlay, as bash
// assignments (eval'd by the script). Paths under a container mountPath are
// remapped below ROOT so the real binary runs with the manifest's layout.
//
// Usage: node facts.mjs ENV ROOT [BACKUP_ROOT]   (ENV: dev | prod)
// The backup job is another pod: its mounts go below BACKUP_ROOT (default
// ROOT). The restore Job mounts the Deployment's PVCs: its paths go below ROOT.
import path from "node:path";
import { ENVIRONMENTS, expandWith, renderEnvironment, ruleMetricNames } from "./validate.mjs";

const [overlay, root, backupRoot = root] = process.argv.slice(2);
if (!ENVIRONMENTS[overlay]?.restore || !root) {
  console.error("usage: node facts.mjs dev|prod ROOT [BACKUP_ROOT]");
  process.exit(2);
}
const rendered = renderEnvironment(overlay);
const objs = rendered.app;
const q = (s) => `'${String(s).replaceAll("'", `'\\''`)}'`;
const arr = (name, xs) => console.log(`${name}=(${xs.map(q).join(" ")})`);
const one = (name, v) => console.log(`${name}=${q(v ?? "")}`);

function remapper(container, base = root) {
  const mounts = (container.volumeMounts || []).map((m) => m.mountPath).sort((a, b) => b.length - a.length);
  return {
    mounts,
    map: (v) => {
      const m = mounts.find((p) => v === p || v.startsWith(p + "/"));
      return m ? path.join(base, v) : v;
    },
  };
}

// Env as NAME=VALUE; a Secret reference becomes NAME=@secret:<name>/<key>.
function envLines(container, map) {
  return (container.env || []).map((e) => {
    if (e.valueFrom?.secretKeyRef) return `${e.name}=@secret:${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`;
    if (e.valueFrom) throw new Error(`unsupported valueFrom for ${e.name}`);
    return `${e.name}=${map(e.value ?? "")}`;
  });
}

const dep = objs.find((o) => o.kind === "Deployment" && o.metadata.name === "stemedb-api");
const pod = dep.spec.template.spec;
const c = pod.containers[0];
const portOf = (p) => (typeof p === "number" ? p : c.ports.find((x) => x.name === p)?.containerPort);
const r = remapper(c);
arr("SERVER_ENV", envLines(c, r.map));
arr("SERVER_ARGS", [...(c.command || []), ...(c.args || [])]);
arr("SERVER_MOUNTS", r.mounts.map((m) => path.join(root, m)));
one("PORT", c.ports.find((p) => p.name === "http").containerPort);
for (const p of ["startupProbe", "livenessProbe", "readinessProbe"]) {
  one(`${p.toUpperCase()}_PATH`, c[p].httpGet.path);
  one(`${p.toUpperCase()}_PORT`, portOf(c[p].httpGet.port));
}
const ann = dep.spec.template.metadata.annotations || {};
one("METRICS_PATH", ann["prometheus.io/path"]);
one("METRICS_PORT", ann["prometheus.io/port"]);
one("GRACE", pod.terminationGracePeriodSeconds ?? 30);
const svc = objs.find((o) => o.kind === "Service" && o.metadata.name === "stemedb-api");
one("SERVICE_HOST", `${svc.metadata.name}.${svc.metadata.namespace}.svc`);
arr("RULE_METRICS", [...ruleMetricNames(objs)].sort());

const cj = objs.find((o) => o.kind === "CronJob" && o.metadata.name === "stemedb-backup");
const jc = cj.spec.jobTemplate.spec.template.spec.containers[0];
const jr = remapper(jc, backupRoot);
arr("BACKUP_CMD", [...(jc.command || []), ...(jc.args || [])].map(expandWith(jc)));
arr("BACKUP_ENV", envLines(jc, jr.map));
arr("BACKUP_MOUNTS", jr.mounts.map((m) => path.join(backupRoot, m)));
arr("BACKUP_ENVFROM_SECRETS", (jc.envFrom || []).map((e) => e.secretRef?.name).filter(Boolean));
one("BACKUP_DEADLINE", cj.spec.jobTemplate.spec.activeDeadlineSeconds);
one("BACKUP_REMOTE_VALUE", expandWith(jc)("$(BACKUP_REMOTE)"));

// The restore Job: its command with every path remapped below ROOT (it mounts
// the Deployment's PVCs) and $(BACKUP_NAME) left for the caller to fill.
const rjob = rendered.restore.find((o) => o.kind === "Job");
const rc = rjob.spec.template.spec.containers[0];
const rr = remapper(rc);
const rexpand = expandWith(rc, ["BACKUP_NAME"]);
arr("RESTORE_CMD", [...(rc.command || []), ...(rc.args || [])].map((a) => rr.map(rexpand(a))));
arr("RESTORE_ENV", envLines(rc, rr.map).filter((l) => !l.startsWith("BACKUP_NAME=")));
arr("RESTORE_ENVFROM_SECRETS", (rc.envFrom || []).map((e) => e.secretRef?.name).filter(Boolean));

// The smoke Job: command and env (its key comes from a Secret).
const sjob = rendered.smoke.find((o) => o.kind === "Job");
const sc = sjob.spec.template.spec.containers[0];
arr("SMOKE_CMD", [...(sc.command || []), ...(sc.args || [])].map(expandWith(sc)));
arr("SMOKE_ENV", envLines(sc, remapper(sc, backupRoot).map));
