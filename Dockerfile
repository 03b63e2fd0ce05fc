# syntax=docker/dockerfile:1
# Rendered by deploy/renderers/container.ts from the function registry (`iotfn render`): edit the renderer, not this file.
#
# One image for every function and process of iotfn; FUNCTION_TARGET picks what a container runs
# (docker/entrypoint.sh). deploy/build-images.sh builds it once and tags it once per target.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The type-check fails the build on a type error (esbuild only strips types); npm run build compiles one bundle
# per function, the CLI for the long-lived processes and the dashboard into dist/ (deploy/build.ts).
RUN npx tsc -p . && npx tsc -p dashboard && npm run build

FROM node:20-bookworm-slim AS run
ENV NODE_ENV=production PORT=8080 HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: the packages the bundles leave external (native code, data files,
# functions-framework) and the static files the gateway serves (swagger-ui-dist). No TypeScript, no tsx.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY docker/entrypoint.sh ./docker/entrypoint.sh
# The embedded adapters keep their files in DATA_DIR (.data): the only place the unprivileged user writes.
RUN mkdir -p .data && chown -R node:node .data
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node","-e","fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/bin/sh", "docker/entrypoint.sh"]
