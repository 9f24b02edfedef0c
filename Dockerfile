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
# The admin listener is loopback-only by default, which is where the check runs.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "require('http').get('http://127.0.0.1:9901/healthz',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["start"]
