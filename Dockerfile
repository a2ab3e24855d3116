# resnet-serve: the HTTP service in a container.
#   docker build -t resnet-serve .                      weights fetched on first start into the cache volume
#   docker build --build-arg BAKE_MODEL=1 -t resnet-serve .   weights baked into the image
#   docker run -p 8080:8080 -v resnet-cache:/var/cache/resnet-serve --read-only --tmpfs /tmp resnet-serve

# Build: compile TypeScript with the dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# Runtime dependencies only.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
# onnxruntime-node ships its runtime for every OS and CPU (~290 MB); keep only this platform's.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
 && find node_modules/onnxruntime-node/bin -mindepth 3 -maxdepth 3 -type d ! -path "*/linux/$(node -p process.arch)" -exec rm -rf {} +

FROM node:20-bookworm-slim
ARG BAKE_MODEL=0
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    RESNET_SERVE_HOME=/var/cache/resnet-serve \
    TORCH_HOME=/opt/resnet-serve/torch
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY data ./data
COPY web ./web
# Baked weights go into a read-only copy of PyTorch's hub cache, which the server reuses;
# the converted ONNX graph is cached in RESNET_SERVE_HOME (a volume) on first start.
RUN mkdir -p /var/cache/resnet-serve "$TORCH_HOME/hub/checkpoints" \
 && if [ "$BAKE_MODEL" = "1" ]; then \
      RESNET_SERVE_HOME=/tmp/bake node dist/cli/bin.js fetch-model \
      && mv /tmp/bake/checkpoints/*.pth "$TORCH_HOME/hub/checkpoints/" && rm -rf /tmp/bake; \
    fi \
 && chown -R node:node /var/cache/resnet-serve
USER node
VOLUME ["/var/cache/resnet-serve"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/v2/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/cli/bin.js", "serve"]
