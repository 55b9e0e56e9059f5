# azwi-webhook: the mutating admission webhook. Build from the repository root:
#   docker build -f deploy/docker/azwi-webhook.Dockerfile -t ghcr.io/azwi/azwi-webhook:v0.1.0 .
#   without Docker: deploy/images/build.sh OUT_DIR (reads the last stage; writes OUT_DIR/azwi-webhook.tar).
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

# A static binary and a CA bundle (for API servers reached through a kubeconfig without a CA of its own; in a
# cluster the webhook trusts the mounted ca.crt): nothing else (no shell, no libc).
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/bin/azwi-webhook /usr/local/bin/azwi-webhook
# The chart runs it as 65532 with a read-only root filesystem; certificates go to the /certs volume.
USER 65532:65532
EXPOSE 9443 9440 8095
ENTRYPOINT ["/usr/local/bin/azwi-webhook"]
