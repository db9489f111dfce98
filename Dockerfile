# smtp-scan-proxy: `docker build -t smtp-scan-proxy .` (docker-compose.yml builds it too).
# Config: a YAML file at /etc/smtp-scan-proxy/config.yaml (docker/config.yaml is the default;
# mount your own over it), or another path named by SMTP_SCAN_PROXY_CONFIG.

# --- build: TypeScript to dist/ (dist/src/cli.js, dist/scanners/...) ---
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts are not needed to compile (only dev tools have any).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY scanners ./scanners
RUN npm run build

# --- runtime: production dependencies and the compiled code, run as the image's "node" user ---
FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    SMTP_SCAN_PROXY_CONFIG=/etc/smtp-scan-proxy/config.yaml
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY docker/config.yaml /etc/smtp-scan-proxy/config.yaml
# The spool (messages over spool.memoryPerMessage) must be the proxy user's own, mode 700:
# the proxy refuses any other at start-up.
RUN install -d -o node -g node -m 700 /var/spool/smtp-scan-proxy
USER node
EXPOSE 2525
# SIGTERM: new clients get 421, transactions in flight get shutdown.timeout (30s by default)
# to finish, so stop the container with a longer grace (docker stop -t 40; compose sets it).
STOPSIGNAL SIGTERM
# The proxy's own check: reads the banner (the exit status) and reports upstream and scanners.
HEALTHCHECK --interval=30s --timeout=15s --start-period=30s --retries=3 \
    CMD ["node", "dist/src/cli.js", "--check"]
CMD ["node", "dist/src/cli.js"]
