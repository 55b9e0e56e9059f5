# azwi-cni: the node agent of the cni mode (the chart's DaemonSet, `azwi-cni install`), which copies this same
# static binary onto the node as the chained CNI plugin. Build from the repository root:
#   docker build -f deploy/docker/azwi-cni.Dockerfile -t ghcr.io/azwi/azwi-cni:v0.1.0 .
#   without Docker: deploy/images/build.sh OUT_DIR (reads the last stage; writes OUT_DIR/azwi-cni.tar).
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

# The static binary only: the plugin runs on the node, with the node's own iptables programs (from its PATH).
FROM scratch
COPY --from=build /out/bin/azwi-cni /usr/local/bin/azwi-cni
# Root without capabilities: it writes into the node's root-owned CNI directories (hostPath mounts).
USER 0
ENTRYPOINT ["/usr/local/bin/azwi-cni", "install"]
