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
# The image runs TypeScript through tsx, so the type-check is the only compiler pass and the build fails on a
# type error; the dashboard bundle is built here too, so a broken bundle fails the build, not the first start.
RUN npx tsc -p . && npx tsc -p dashboard && node --import tsx dashboard/build.ts

FROM node:20-bookworm-slim AS run
ENV NODE_ENV=production PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/tsconfig.json ./
COPY --from=build /app/bin ./bin
COPY --from=build /app/dashboard ./dashboard
COPY --from=build /app/functions ./functions
COPY --from=build /app/realtime ./realtime
COPY --from=build /app/shared ./shared
COPY docker/entrypoint.sh ./docker/entrypoint.sh
# The gateway rebuilds the dashboard into dashboard/dist at start and the embedded adapters keep their files
# in DATA_DIR (.data): the only places the unprivileged user writes.
RUN mkdir -p .data dashboard/dist && chown -R node:node .data dashboard/dist
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node","-e","fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/bin/sh", "docker/entrypoint.sh"]
