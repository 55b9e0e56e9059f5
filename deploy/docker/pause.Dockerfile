# pause: the pod sandbox (holds the pod's namespaces, reaps orphans, exits 0 on SIGTERM). Build from the
# repository root:
#   docker build -f deploy/docker/pause.Dockerfile -t ghcr.io/azwi/pause:v0.1.0 .
#   without Docker: deploy/images/build.sh OUT_DIR (reads the last stage; writes OUT_DIR/pause.tar).
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

# One static program of the project's own (deploy/images/pause/pause.c) on an empty base.
FROM scratch
COPY --from=build /out/bin/pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
