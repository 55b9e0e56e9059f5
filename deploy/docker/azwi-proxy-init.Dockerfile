# azwi-proxy-init: installs the pod's nat rules, then exits. Build from the repository root:
#   docker build -f deploy/docker/azwi-proxy-init.Dockerfile -t ghcr.io/azwi/azwi-proxy-init:v0.1.0 .
#   without Docker: deploy/images/build.sh OUT_DIR (reads the last stage; writes OUT_DIR/azwi-proxy-init.tar).
# Build stage: the same Debian 12 toolchain and libraries the project is developed and tested with.
FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ cmake ninja-build pkg-config ca-certificates \
      libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libssl-dev libcurl4-openssl-dev libyaml-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY src src
COPY cmd cmd
COPY deploy/build-static.sh deploy/
COPY deploy/images/pause deploy/images/pause
# azwi-proxy, azwi-proxy-init, azwi-webhook, azwi-cni and pause, fully static: /out/bin.
RUN deploy/build-static.sh /out

# Debian's iptables package (both backends: iptables-nft-{save,restore} and iptables-legacy-{save,restore}) and the
# shared libraries it needs, as a root filesystem of its own: deploy/images/iptables-rootfs.sh assembles it with
# dpkg -L and ldd. deploy/images/build.sh runs the same script on the (Debian 12) host instead of this stage
# (for arm64, against an arm64 root of the stage's packages: deploy/cross/arm64-stage-root.sh).
FROM debian:bookworm AS iptables
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY deploy/images/iptables-rootfs.sh deploy/images/
RUN deploy/images/iptables-rootfs.sh /rootfs

# iptables (azwi-proxy-init uses the backend the node's other rules are in) and the static azwi-proxy-init.
FROM scratch
COPY --from=iptables /rootfs/ /
COPY --from=build /out/bin/azwi-proxy-init /usr/local/bin/azwi-proxy-init
# An empty base has no PATH of its own: azwi-proxy-init finds iptables-*-save and -restore through it.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# iptables-legacy-restore takes a lock file, by default /run/xtables.lock in the image; the webhook makes the root
# filesystem read-only, so the lock goes to the pod's /dev/shm (a tmpfs) instead. The nft backend takes none.
ENV XTABLES_LOCKFILE=/dev/shm/xtables.lock
# Root with NET_ADMIN, as the webhook's securityContext for this init container asks.
USER 0
ENTRYPOINT ["/usr/local/bin/azwi-proxy-init"]
