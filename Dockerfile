# tfstate-guard as a GitHub Docker container action.
#
# Build stage: a static, reproducible binary (no cgo, no paths of the build
# machine, no symbol tables). Final stage: distroless "static", which is
# only CA certificates, tzdata and /etc/passwd: nothing to shell into and no
# package manager, and the binary needs nothing else (it talks TLS to AWS
# and the GitHub API, and downloads wheels for build-layer in Go).
#
# See docs/container.md for how the image is built, published and pinned.

# The build stage runs on the builder's own platform and cross-compiles
# (GOOS/GOARCH from BuildKit's TARGETOS/TARGETARCH): a multi-platform
# release builds linux/arm64 natively instead of under QEMU emulation.
# Without BuildKit the variables are empty and Go builds for the host.
#
# Both base images are pinned by the digest of their multi-platform index
# (tag for people, digest for the build): a tag moved upstream changes
# nothing here until Dependabot's docker update proposes the new digest.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
# Never reach for another toolchain: the image's Go is the one we build with.
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
RUN GOOS="$TARGETOS" GOARCH="$TARGETARCH" go build -trimpath -ldflags "-s -w" -o /out/tfstate-guard .

# The default user of distroless/static is root (uid 0), on purpose: a Docker
# action runs with the workspace and /github/file_commands owned by the
# runner's user and bind-mounted in, and GitHub documents that Docker actions
# must run as root to write GITHUB_OUTPUT, GITHUB_ENV and the step summary.
# Do NOT add a USER line (and do not switch to the :nonroot tag).
FROM gcr.io/distroless/static-debian12:latest@sha256:d75cdd72874d4790092fcb1b058493ecf6bb5bf2b2b897045b00ff01d91843f2
COPY --from=build /out/tfstate-guard /tfstate-guard
ENTRYPOINT ["/tfstate-guard"]
