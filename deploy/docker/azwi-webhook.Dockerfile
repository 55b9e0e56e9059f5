# azwi-webhook: the mutating admission webhook. Build from the repository root:
#   docker build -f deploy/docker/azwi-webhook.Dockerfile -t ghcr.io/azwi/azwi-webhook:v0.1.0 .
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
# azwi-proxy and azwi-proxy-init fully static, azwi-webhook against Debian 12's shared libraries: /out/bin.
RUN deploy/build-static.sh /out

# Debian's libcurl cannot be linked statically (several of its dependencies ship no static archive), so the
# webhook runs on Debian 12 slim with the shared libraries it was linked against.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4 libstdc++6 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/bin/azwi-webhook /usr/local/bin/azwi-webhook
# The chart runs it as 65532 with a read-only root filesystem; certificates go to the /certs volume.
USER 65532:65532
EXPOSE 9443 9440 8095
ENTRYPOINT ["/usr/local/bin/azwi-webhook"]
