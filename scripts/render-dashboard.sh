#!/usr/bin/env bash
# Renders six panels of the Grafana dashboard (k3s/monitoring/stemedb-dashboard.json)
# into one PNG with gnuplot (Grafana is not in Debian's archive): it runs the
# alert test (tests/observability/alerts_test.mjs: the real server, a real
# Prometheus, the disk floor, slow fsyncs, write load and a 429 storm), which
# exports every panel's query over the run, then plots the panels' own
# queries. What the image shows is what the dashboard shows for that run.
#
# Usage: scripts/render-dashboard.sh [BUILD_DIR] [OUT_PNG]
#   defaults: build, docs/images/dashboard.png. Needs gnuplot
#   (scripts/install-deps.sh --bench), prometheus (scripts/install-deps.sh),
#   tests/k3s/node_modules (tests/k3s/npm_install.sh) and root for the tmpfs.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-docs/images/dashboard.png}
command -v gnuplot >/dev/null || { echo "render-dashboard: gnuplot missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
[[ -x $build/api/stemedb ]] || { echo "render-dashboard: $build/api/stemedb missing (scripts/build.sh $build)" >&2; exit 1; }
tests/k3s/npm_install.sh >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node tests/observability/alerts_test.mjs --server "$build/api/stemedb" --export "$work/data"

# One plot per panel: title | refId (empty = all) | y label | scale.
panels=(
  "Durable writes/s||assertions/s|1"
  "Request latency by route (p50, p99)|A|p99 (ms)|1000"
  "WAL fsync latency (p50, p99, p99.9)|B|p99 (ms)|1000"
  "Disk free by volume||MiB|9.5367431640625e-07"
  "Top projects by 429/s||429/s|1"
  "WAL archive lag||seconds|1"
)
{
  echo "set terminal pngcairo size 1200,680 font 'DejaVu Sans,9' noenhanced"
  echo "set output '$out'"
  echo "set multiplot layout 2,3 title 'StemeDB dashboard (one run of tests/observability/alerts_test.mjs; x: seconds)'"
  echo "set key top left font ',8' samplen 2"
  xmax=$(cat "$work"/data/*.dat | awk '$1 > m { m = $1 } END { print m }')
  echo "set grid; set xrange [0:$xmax]; set yrange [0:*]"
  for p in "${panels[@]}"; do
    IFS='|' read -r title ref ylabel scale <<<"$p"
    plots=$(awk -F'\t' -v t="$title" -v r="$ref" -v d="$work/data" -v s="$scale" '
      $2 == t && (r == "" || $3 == r) {
        printf "%s'\''%s/%s'\'' using 1:($2*%s) with lines lw 1.5 title '\''%s'\''", sep, d, $5, s, $4
        sep = ", "
      }' "$work/data/manifest.tsv")
    [[ -n $plots ]] || { echo "render-dashboard: no series for panel '$title'" >&2; exit 1; }
    echo "set title '$title'; set ylabel '$ylabel'"
    echo "plot $plots"
  done
  echo "unset multiplot"
} >"$work/plot.gp"
gnuplot "$work/plot.gp"
echo "render-dashboard: wrote $out ($(stat -c %s "$out") bytes)"
