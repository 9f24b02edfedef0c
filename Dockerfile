# Rampart: multi-stage build, production dependencies and compiled JavaScript only, non-root.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
# tini as PID 1: signals reach Rampart (SIGTERM drains, SIGHUP reloads, SIGUSR1 reopens the log file)
# and zombies are reaped, also where the orchestrator offers no --init (Kubernetes).
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
# The embedded demo config binds loopback; in a container the public listeners must bind every interface.
ENV NODE_ENV=production RAMPART_CONFIG=/app/config/gateway.yaml RAMPART_HTTP=0.0.0.0:8080 RAMPART_HTTPS=0.0.0.0:8443
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY config ./config
RUN mkdir -p /app/certs /app/state && chown -R node:node /app/certs /app/state
USER node
VOLUME ["/app/config", "/app/certs", "/app/state"]
EXPOSE 8080 8443 9901
# The admin listener is loopback-only by default; RAMPART_ADMIN=0.0.0.0:9901 (with RAMPART_ADMIN_TOKEN)
# lets probes and scrapes reach it. The check follows its port. Stop the container with a grace above
# shutdownGrace (10 s by default): `docker stop -t 20`, compose's stop_grace_period, Kubernetes'
# terminationGracePeriodSeconds.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "const p=(process.env.RAMPART_ADMIN||'127.0.0.1:9901').split(':').pop();require('http').get('http://127.0.0.1:'+p+'/healthz',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/src/cli.js"]
CMD ["start"]
