# azwi-proxy-init: installs the pod's nat rules, then exits. Build from the repository root:
#   docker build -f deploy/docker/azwi-proxy-init.Dockerfile -t ghcr.io/azwi/azwi-proxy-init:v0.1.0 .
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
# azwi-proxy, azwi-proxy-init and azwi-webhook, fully static: /out/bin.
RUN deploy/build-static.sh /out

# Debian's iptables package ships both backends (iptables-nft-{save,restore} and iptables-legacy-{save,restore});
# azwi-proxy-init uses the one the node's other rules are in.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/bin/azwi-proxy-init /usr/local/bin/azwi-proxy-init
# Root with NET_ADMIN, as the webhook's securityContext for this init container asks.
USER 0
ENTRYPOINT ["/usr/local/bin/azwi-proxy-init"]
