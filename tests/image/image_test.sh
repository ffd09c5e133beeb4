#!/usr/bin/env bash
# The image, built and run without a Docker daemon (docs/testing.md "Image").
#
# scripts/build-image.sh turns the Dockerfile into an OCI image archive; this
# test reads that archive back as a registry client would (skopeo), unpacks it
# into an OCI bundle (umoci) and runs it with runc as `docker run --read-only
# -v DATA:/var/lib/stemedb -e STEMEDB_ROOT_API_KEY=...` would: the image's own
# user, environment and entrypoint, a read-only root, no capabilities, one
# writable volume. The host's network namespace (so the test reaches it on
# 127.0.0.1) with STEMEDB_BIND_ADDR on a free loopback port. Checks:
#   - the image config: USER 1000:1000, ENTRYPOINT stemedb, the ENVs;
#   - /v1/health and /v1/ready answer 200, a write without a key is 401,
#     an authenticated write reads back;
#   - the server runs as UID 1000, cannot write to its root, and its WAL and
#     store are on the volume, owned by 1000;
#   - stemectl (health) and rclone run inside the image;
#   - SIGTERM: exit 0; a restart from the same volume serves the same write.
#
# Usage: image_test.sh RELEASE_DIR     (as root; network for the Debian mirror)
#   STEMEDB_IMAGE_ARCHIVE=PATH tests that archive instead of building one.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
release_dir=${1:?usage: image_test.sh RELEASE_DIR}
if [[ $(id -u) -ne 0 ]]; then
  echo "image_test: must run as root (mmdebstrap, chroot, runc)" >&2
  exit 1
fi

# shellcheck source=tests/util/checks.sh
source "$here/../util/checks.sh"

tmp=$(mktemp -d /tmp/stemedb-image-test.XXXXXX)
id=stemedb-image-test-$$
runc_pid=
cleanup() {
  runc delete --force "$id" >/dev/null 2>&1
  [[ -n $runc_pid ]] && wait "$runc_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

if [[ -n ${STEMEDB_IMAGE_ARCHIVE:-} ]]; then
  archive=$STEMEDB_IMAGE_ARCHIVE  # an archive built before, e.g. by a release pipeline
else
  if ! "$repo/scripts/build-image.sh" --release-dir "$release_dir" --out "$tmp/out"; then
    echo "image_test: FAIL scripts/build-image.sh"
    exit 1
  fi
  archive=$(ls "$tmp"/out/stemedb-*.oci.tar)
fi
tag=${archive##*/stemedb-}
tag=${tag%.oci.tar}

# --- the archive, as a registry client reads it ------------------------------
image_config=$(skopeo inspect --config "oci-archive:$archive:$tag")
check "skopeo reads the OCI archive (tag $tag)" test -n "$image_config"
cfg() { python3 -c 'import json, sys; c = json.loads(sys.argv[1])["config"]; print(eval(sys.argv[2]))' "$image_config" "$1"; }
check "image USER is 1000:1000" test "$(cfg 'c.get("User")')" = 1000:1000
check "image ENTRYPOINT is [stemedb]" test "$(cfg 'c.get("Entrypoint")')" = "['stemedb']"
check "image WORKDIR is /var/lib/stemedb" test "$(cfg 'c.get("WorkingDir")')" = /var/lib/stemedb
check "image ENV sets STEMEDB_WAL_DIR" test "$(cfg '[e for e in c["Env"] if e.startswith("STEMEDB_WAL_DIR=")]')" = "['STEMEDB_WAL_DIR=/var/lib/stemedb/wal']"

# --- an OCI bundle from the archive ---------------------------------------------
mkdir -p "$tmp/layout" "$tmp/volume"
tar -xf "$archive" -C "$tmp/layout"
umoci unpack --image "$tmp/layout:$tag" "$tmp/bundle" >/dev/null || { echo "image_test: FAIL umoci unpack"; exit 1; }
# An empty volume owned by the image's user, as a PVC with fsGroup 1000.
chown 1000:1000 "$tmp/volume" && chmod 0750 "$tmp/volume"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
root_key="steme_live_$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
python3 - "$tmp/bundle/config.json" "$tmp/volume" "$port" "$root_key" "$(ulimit -Hn)" <<'EOF' || { echo "image_test: FAIL bundle config"; exit 1; }
import json, sys
path, volume, port, key, nofile = sys.argv[1:]
c = json.load(open(path))
p = c["process"]
# What umoci derived from the image config must be the image's, unchanged.
assert p["user"]["uid"] == 1000 and p["user"]["gid"] == 1000, p["user"]
assert p["args"] == ["stemedb"], p["args"]
assert p["cwd"] == "/var/lib/stemedb", p["cwd"]
p["terminal"] = False
p["env"] = [e for e in p["env"] if not e.startswith("STEMEDB_BIND_ADDR=")]
p["env"] += ["STEMEDB_BIND_ADDR=127.0.0.1:" + port, "STEMEDB_ROOT_API_KEY=" + key]
p["capabilities"] = {k: [] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")}
# Docker gives a container the daemon's file limit; here, this shell's.
p["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": int(nofile), "hard": int(nofile)}]
c["root"]["readonly"] = True
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
c["mounts"].append({"destination": "/var/lib/stemedb", "type": "bind", "source": volume,
                    "options": ["rbind", "rw"]})
json.dump(c, open(path, "w"), indent=1)
EOF

base=http://127.0.0.1:$port
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
start() { # start LOG
  runc run --bundle "$tmp/bundle" "$id" >"$1" 2>&1 </dev/null &
  runc_pid=$!
}
wait_ready() {
  local i
  for ((i = 0; i < 300; i++)); do
    [[ $(code "$base/v1/ready") == 200 ]] && return 0
    kill -0 "$runc_pid" 2>/dev/null || { echo "  the container exited; log:"; tail -5 "$1" | sed 's/^/  /'; return 1; }
    sleep 0.2
  done
  echo "  not ready after 60 s"
  return 1
}
stop() { # SIGTERM through the runtime; the container's exit status
  runc kill "$id" TERM
  wait "$runc_pid"
  local rc=$?
  runc_pid=
  runc delete --force "$id" >/dev/null 2>&1
  return $rc
}

start "$tmp/server.log"
if ! check "the server starts from the image (read-only root, UID 1000, no capabilities)" wait_ready "$tmp/server.log"; then
  checks_done "image test"
  exit 1
fi
check "GET /v1/health -> 200" test "$(code "$base/v1/health")" = 200
check "GET /v1/ready -> 200" test "$(code "$base/v1/ready")" = 200
assertion='{"subject":"image-test","predicate":"status","value":"ok","agent_id":"image-test"}'
check "POST /v1/assert without a key -> 401" \
  test "$(code -H 'Content-Type: application/json' -d "$assertion" "$base/v1/assert")" = 401
reply=$(curl -s --max-time 5 -w '\n%{http_code}' -H "X-API-Key: $root_key" -H 'Content-Type: application/json' \
  -d "$assertion" "$base/v1/assert?project=default")
assertion_id=$(head -1 <<<"$reply" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' 2>/dev/null)
check "authenticated POST /v1/assert -> 201 with an id" test "$(tail -1 <<<"$reply")" = 201 -a -n "$assertion_id"
read_back() {
  curl -fsS --max-time 5 -H "X-API-Key: $root_key" "$base/v1/assertions/$assertion_id?project=default" |
    python3 -c 'import json, sys; a = json.load(sys.stdin); sys.exit(0 if (a["subject"], a["value"]) == ("image-test", "ok") else 1)'
}
check "GET /v1/assertions/ID reads the write back" read_back

pid=$(runc state "$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])')
check "the server process runs as UID 1000" bash -c "grep -qE '^Uid:\s+1000\s+1000\s+1000\s+1000' /proc/$pid/status"
check "the root filesystem is read-only" bash -c "! runc exec '$id' /bin/sh -c 'echo x > /usr/local/bin/probe' 2>/dev/null"
check "the WAL and the store are on the volume, owned by 1000" \
  bash -c "[[ \$(stat -c %u '$tmp/volume/wal' '$tmp/volume/db') == \$'1000\n1000' ]] && ls '$tmp/volume/wal' | grep -q ."
check "stemectl health inside the image" bash -c "runc exec '$id' env STEMEDB_URL=$base stemectl health >/dev/null"
check "rclone runs inside the image" bash -c "runc exec '$id' rclone version >/dev/null"
check "no 'not found' library in the image" bash -c "! runc exec '$id' ldd /usr/local/bin/stemedb /usr/local/bin/stemectl | grep -q 'not found'"
check "SIGTERM: the container exits 0" stop

start "$tmp/server2.log"
check "restart from the same volume: ready" wait_ready "$tmp/server2.log"
check "restart: the write is there" read_back
check "SIGTERM after restart: exit 0" stop

checks_done "image test"
