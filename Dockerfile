# Berth as a container image: the gateway `berth` (a static x86_64 musl binary) and the
# dashboard (dist/), FROM scratch, with CA certificates. One Dockerfile, built two ways:
#
# - With registry access:  docker build -t berth:latest .
#   (BuildKit: the default builder since Docker 23; `DOCKER_BUILDKIT=1` on 20.10.) The `build`
#   stage, a Debian 12 Rust image, runs `scripts/image.sh --rootfs-only` (the same script as
#   offline: musl-tools, the dashboard's tools, the build) and the last stage copies the result.
# - Offline, on a Debian 12 machine where no base image can be pulled:  scripts/image.sh
#   It builds the same root file system on the host into target/berth-image/rootfs/ and builds
#   `--target prebuilt`, which only copies it from the build context. `base` and `prebuilt`
#   come first because the legacy builder builds every stage before its target.
#
# Run it (the socket mount hands Berth the engine, which is root on the host; Berth runs as
# root in the container to reach it):
#   docker run -d --name berth -v /var/run/docker.sock:/var/run/docker.sock \
#     -v berth-data:/var/lib/berth --network host berth:latest
# It listens on 127.0.0.1:8080 (BERTH_LISTEN): with --network host, the host's loopback. With
# a bridge network, pass -e BERTH_LISTEN=0.0.0.0:8080 -p 127.0.0.1:8080:8080.

# The builder for the registry-access build only; never pulled by scripts/image.sh.
ARG RUST_IMAGE=rust:1.95-bookworm

FROM scratch AS base
LABEL org.opencontainers.image.title="Berth" \
      org.opencontainers.image.description="Launch containers from a browser, the way docker run does" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV BERTH_STATIC_DIR=/usr/share/berth/dist \
    BERTH_DATA_DIR=/var/lib/berth \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    HOME=/root
# The database, the generated admin token, the secret key and the instance id.
VOLUME /var/lib/berth
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/berth"]
CMD ["serve"]

# What scripts/image.sh builds: the root file system staged on the host.
FROM base AS prebuilt
COPY target/berth-image/rootfs/ /

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN bash scripts/image.sh --rootfs-only

# The default target: the root file system built in the `build` stage.
FROM base AS image
COPY --from=build /src/target/berth-image/rootfs/ /
