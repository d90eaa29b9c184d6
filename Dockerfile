# syntax=docker/dockerfile:1
# meshd image: `docker build -t <hub>/meshd:<tag> .`, push, then `meshd install --set hub=<hub> --set tag=<tag>`.
# Three stages: build (all dependencies, TypeScript → dist/), deps (production dependencies only), and the
# runtime image (dist + production node_modules + protos, non-root). test/e2e/dockerfile.test.ts replays
# these steps without a Docker engine (none runs where meshd is developed); see README "Container image".

# Node 26 (Lithium) is the Active LTS line since 2026-10-28; Node 24 went to maintenance on 2026-10-20
# (Node.js release schedule). Debian bookworm like the machines meshd is developed and tested on (the
# official images' plain `26-slim` is trixie). The Dockerfile replay test passes under Node 26.10 as under
# the Node 20 the suite runs on; --build-arg NODE_IMAGE=node:24-bookworm-slim keeps the previous line.
ARG NODE_IMAGE=node:26-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` builds, and src/ is not copied yet (the build is the RUN below)
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# no install scripts run in production dependencies (protobufjs' only checks its own version)
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY protos ./protos
RUN ln -s /app/bin/meshd.js /usr/local/bin/meshd
# Istio's uid/gid; numeric so Kubernetes can check runAsNonRoot without a passwd lookup
USER 1337:1337
# readiness, xDS, CA + xDS over TLS, monitoring, webhooks
EXPOSE 8080 15010 15012 15014 15017
ENTRYPOINT ["meshd"]
CMD ["serve"]
