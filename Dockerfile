# StemeDB image: both binaries (stemedb, stemectl) plus rclone for backups.
#   docker build -t stemedb:0.1.0 .
# Multi-stage: the build stage has the toolchain; the final stage only the
# run-time shared libraries (tests/userpath/runtime_packages.sh checks that
# this list covers what the release binaries link and that every name exists
# in Debian 12). scripts/build-image.sh builds the same image without a
# daemon from this file; tests/image/image_test.sh runs it.
FROM debian:12 AS build
WORKDIR /src
# Dependencies first, so a source change does not reinstall them.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# The shipped configuration, the same as scripts/run.sh and CI build.
RUN scripts/build-release.sh /build \
 && strip /build/api/stemedb /build/stemectl/stemectl

FROM debian:12-slim
# runtime-packages-begin (parsed by scripts/runtime-packages.sh: keep one name per line)
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libsnappy1v5 \
      liblz4-1 \
      libzstd1 \
      libbz2-1.0 \
      zlib1g \
      libboost-json1.81.0 \
      libboost-program-options1.81.0 \
      libsodium23 \
      libprometheus-cpp-core1.0 \
      libssl3 \
      libisal2 \
      libjemalloc2 \
      libarchive13 \
      ca-certificates \
      rclone \
 && rm -rf /var/lib/apt/lists/*
# runtime-packages-end
RUN groupadd --gid 1000 stemedb \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin stemedb \
 && install -d -o 1000 -g 1000 -m 0750 /var/lib/stemedb /var/lib/stemedb/wal /var/lib/stemedb/db
COPY --from=build /build/api/stemedb /build/stemectl/stemectl /usr/local/bin/
# Fail the build, not the pod, if a shared library is missing.
RUN ! ldd /usr/local/bin/stemedb /usr/local/bin/stemectl | grep 'not found'
USER 1000:1000
WORKDIR /var/lib/stemedb
# Same layout as k3s/base/deployment.yaml. A non-loopback bind needs
# STEMEDB_ROOT_API_KEY (startup guard 4, docs/configuration.md): `docker run -e STEMEDB_ROOT_API_KEY=...`.
ENV STEMEDB_BIND_ADDR=0.0.0.0:18180 \
    STEMEDB_DATA_DIR=/var/lib/stemedb/db \
    STEMEDB_WAL_DIR=/var/lib/stemedb/wal \
    STEMEDB_DB_DIR=/var/lib/stemedb/db/rocksdb
EXPOSE 18180
ENTRYPOINT ["stemedb"]
