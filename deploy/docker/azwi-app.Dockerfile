# azwi-app: the small application the test pods run (busybox: sh, wget, ...). Build from the repository root:
#   docker build -f deploy/docker/azwi-app.Dockerfile -t ghcr.io/azwi/azwi-app:v0.1.0 .
#   without Docker: deploy/images/build.sh OUT_DIR (reads the last stage; writes OUT_DIR/azwi-app.tar).
# Debian's busybox-static with its applet links, as a root filesystem of its own (deploy/images/busybox-rootfs.sh).
# deploy/images/build.sh runs the same script on the (Debian 12) host instead of this stage
# (for arm64, against an arm64 root of the stage's packages: deploy/cross/arm64-stage-root.sh).
FROM debian:bookworm AS app
RUN apt-get update \
 && apt-get install -y --no-install-recommends busybox-static \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY deploy/images/busybox-rootfs.sh deploy/images/
RUN deploy/images/busybox-rootfs.sh /rootfs

# An application that knows only IMDS: `wget -q -O- --header 'Metadata: true' http://169.254.169.254/...`.
FROM scratch
COPY --from=app /rootfs/ /
ENV PATH=/bin
# Any UID but azwi-proxy's 1501 is redirected to the sidecar.
USER 1000:1000
CMD ["sh"]
