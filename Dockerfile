# syntax=docker/dockerfile:1
# pixelgate container image: a static binary on a distroless base, running
# as an unprivileged user. Build: docker build -t pixelgate .
# See docs/operator-guide.md for the settings (PIXELGATE_* variables).

FROM golang:1.26-alpine AS build
WORKDIR /src
# Dependencies first, so a code change does not re-download modules.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO off: a static binary that needs no libc in the runtime image.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/pixelgate ./cmd/pixelgate \
 && mkdir -p /out/data \
 && chown 65532:65532 /out/data \
 && chmod 0700 /out/data

# distroless/static has no shell and no package manager; :nonroot runs as
# uid 65532. Only the binary and an empty data directory are added.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pixelgate /pixelgate
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# Listen on every interface inside the container; publish the ports on the
# host as narrowly as needed (docker-compose.yml publishes on 127.0.0.1).
ENV PIXELGATE_DATA_DIR=/data \
    PIXELGATE_SMTP_ADDR=0.0.0.0:2525 \
    PIXELGATE_HTTP_ADDR=0.0.0.0:8080 \
    PIXELGATE_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 2525 8080
# The binary checks its own /readyz: there is no curl or wget in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/pixelgate", "healthcheck"]
ENTRYPOINT ["/pixelgate"]
CMD ["serve"]
