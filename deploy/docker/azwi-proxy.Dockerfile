# azwi-proxy: the IMDS token sidecar. Build from the repository root:
#   docker build -f deploy/docker/azwi-proxy.Dockerfile -t ghcr.io/azwi/azwi-proxy:v0.1.0 .
#   without Docker: deploy/images/build.sh OUT_DIR (reads the last stage; writes OUT_DIR/azwi-proxy.tar).
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

# A static binary and the CA bundle for the calls to Entra ID: nothing else (no shell, no libc).
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# The path the webhook's postStart hook runs with --probe.
COPY --from=build /out/bin/azwi-proxy /usr/local/bin/azwi-proxy
# UID 1501: azwi-proxy-init's nat rules let this UID's own traffic to 169.254.169.254 through to the real IMDS.
USER 1501:1501
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/azwi-proxy"]
