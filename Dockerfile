# regcred's container image (docs/image.md). Two stages:
#   build:   npm ci + npm run build (tsc, then hack/bundle.mjs: esbuild writes dist/regcred.mjs,
#            the CLI and what every command needs, and dist/chunks/, what it loads on first use:
#            the AWS SDK, google-auth-library, @azure/identity, the webhook);
#   runtime: Node.js and those files. No node_modules at all: the bundle needs none (proved by
#            test/integration/package.test.ts, which runs it from a clean folder, and runs this
#            file's commands in a script test).
#
# Base image: node:<version>-bookworm-slim for both stages, pinned to the Node.js release the tests
# run on (hack/node-release.env; test/integration/package.test.ts checks they are the same). Override
# with --build-arg NODE_VERSION=...; pin a digest too in your own builds, e.g.
# node:26.12.1-bookworm-slim@sha256:...). Not distroless: the Helm chart runs
# `command: [node, <flags>, /app/regcred.mjs]`, which needs `node` on PATH, and `regcred` is a
# small /bin/sh wrapper; gcr.io/distroless/nodejs*-debian12 has neither a shell nor node on PATH
# (only /nodejs/bin/node). npm, npx, corepack and yarn are removed from the runtime stage instead.
ARG NODE_VERSION=26.12.1

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
# Dependencies first: this layer is reused until package.json / package-lock.json change.
# --ignore-scripts: no dependency needs an install script (esbuild's binary is its optional
# dependency @esbuild/linux-x64); the build runs no third-party code but tsc and esbuild.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
# Only what `npm run build` reads (tsconfig.json includes test/ and bench/ too: absent here, not built).
COPY tsconfig.json ./
COPY hack/ hack/
COPY src/ src/
RUN npm run build && node dist/regcred.mjs version

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="regcred" \
      org.opencontainers.image.description="Keeps Kubernetes image pull secrets filled with fresh, short-lived registry credentials" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/regcred/regcred" \
      org.opencontainers.image.base.name="docker.io/library/node:${NODE_VERSION}-bookworm-slim"
# No package managers in the runtime image (nothing is installed at run time), and `regcred` on
# PATH: a wrapper that runs the bundle with no Node.js flag (Node sizes its heap from the container's
# memory limit; the chart's Deployment adds only the share, src/node-flags.ts). A user 65532 with
# home /tmp, so that tools asking for the user's name or home (os.userInfo()) get an answer.
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
        /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
 && printf '#!/bin/sh\nexec node /app/regcred.mjs "$@"\n' > /usr/local/bin/regcred \
 && chmod 0755 /usr/local/bin/regcred \
 && echo 'regcred:x:65532:' >> /etc/group \
 && echo 'regcred:x:65532:65532:regcred:/tmp:/usr/sbin/nologin' >> /etc/passwd
# Owned by root, mode 0755 (set by `npm run build`): user 65532 can read and run it, not change it.
COPY --from=build /src/dist/regcred.mjs /app/regcred.mjs
COPY --from=build /src/dist/chunks/ /app/chunks/
# HOME=/tmp: the only writable place under the chart's readOnlyRootFilesystem (an emptyDir).
# MALLOC_ARENA_MAX=2: glibc gives each thread that allocates its own arena (Node's V8 and libuv
# threads), kept after use; two arenas held 12 MB less at 5,000 namespaces × 3 credentials
# (docs/benchmarks.md) at no measured cost in speed.
ENV NODE_ENV=production \
    HOME=/tmp \
    MALLOC_ARENA_MAX=2
WORKDIR /tmp
USER 65532:65532
ENTRYPOINT ["regcred"]
CMD ["--help"]
