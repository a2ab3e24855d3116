# resnet-serve: the HTTP service in a container.
#   docker build -t resnet-serve .                            weights fetched on first start into the cache volume
#   docker build --build-arg BAKE_MODEL=1 -t resnet-serve .   weights baked into the image
#     (add --build-arg RESNET_SERVE_WEIGHTS_URL=https://mirror.example/models to bake from a mirror)
#   docker run -p 8080:8080 -v resnet-cache:/var/cache/resnet-serve --read-only --tmpfs /tmp resnet-serve
#
# What the build needs: the base image, Debian's packages and the npm registry (plus the weights URL
# with BAKE_MODEL=1). Nothing comes from GitHub: better-sqlite3 and our JPEG decoder (native/) are
# compiled from source with the compilers of the toolchain stage (which never reach the final
# image), against the base image's own Node headers and Debian's libjpeg-turbo.

# Compilers for the native addons built from source.
FROM node:20-bookworm-slim AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ libjpeg62-turbo-dev \
 && rm -rf /var/lib/apt/lists/*
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    npm_config_build_from_source=true \
    npm_config_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# npm ci's install step builds the JPEG decoder (scripts/build-native.mjs); its prepare step
# (scripts/build-if-stale.mjs) compiles nothing here, where the sources are not yet copied.
COPY scripts/build-native.mjs scripts/build-if-stale.mjs ./scripts/
COPY native/binding.gyp native/jpeg_scaled.c ./native/

# Compile the TypeScript with the dev dependencies; keep only what runs (no tests, no test helpers).
FROM toolchain AS build
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build \
 && find dist \( -name '*.test.js' -o -name '*.test.js.map' -o -name '*.test.d.ts' \) -delete \
 && rm -rf dist/testing dist/fuzz

# Runtime dependencies only, without build leftovers.
FROM toolchain AS deps
# onnxruntime-node ships its runtime for every OS and CPU (~290 MB); keep only this platform's.
# better-sqlite3 keeps its compiled addon; its sources and object files go.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
 && find node_modules/onnxruntime-node/bin -mindepth 3 -maxdepth 3 -type d ! -path "*/linux/$(node -p process.arch)" -exec rm -rf {} + \
 && cd node_modules/better-sqlite3 \
 && rm -rf deps src build/deps build/Release/obj build/Release/obj.target build/Release/.deps build/Release/test_extension.node build/Makefile build/*.mk

FROM node:20-bookworm-slim
ARG BAKE_MODEL=0
ARG RESNET_SERVE_WEIGHTS_URL=
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    RESNET_SERVE_HOME=/var/cache/resnet-serve \
    TORCH_HOME=/opt/resnet-serve/torch \
    RESNET_SERVE_IN_CONTAINER=1 \
    ORT_DISABLE_TELEMETRY=1 \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=4194304 \
    MALLOC_TRIM_THRESHOLD_=4194304 \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 \
    NODE_OPTIONS=--max-semi-space-size=1
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# The JPEG decoder and the libjpeg-turbo it links (Debian's, from the toolchain stage).
COPY --from=deps /app/native/build/Release/jpeg_scaled.node ./native/build/Release/
COPY --from=toolchain /usr/lib/*-linux-gnu/libjpeg.so.62* /usr/lib/
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY data ./data
COPY web ./web
# Baked weights go into a read-only copy of PyTorch's hub cache, which the server reuses (checked against
# their hash at start); the converted ONNX graph is cached in RESNET_SERVE_HOME (a volume) on first start.
RUN mkdir -p /var/cache/resnet-serve "$TORCH_HOME/hub/checkpoints" \
 && if [ "$BAKE_MODEL" = "1" ]; then \
      RESNET_SERVE_HOME=/tmp/bake RESNET_SERVE_WEIGHTS_URL="$RESNET_SERVE_WEIGHTS_URL" node dist/cli/bin.js fetch-model \
      && mv /tmp/bake/checkpoints/*.pth "$TORCH_HOME/hub/checkpoints/" && rm -rf /tmp/bake; \
    fi \
 && chown -R node:node /var/cache/resnet-serve
# The image's "node" user by number, so runAsNonRoot can check it without a runAsUser.
USER 1000:1000
VOLUME ["/var/cache/resnet-serve"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.RESNET_SERVE_PORT||process.env.PORT||8080)+'/v2/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/cli/bin.js", "serve"]
