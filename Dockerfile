# Doorbell: one image for every role (api, worker, all).
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles with node-gyp.
RUN apt-get update && apt-get install -y --no-install-recommends g++ make python3 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production DOORBELL_HOST=0.0.0.0 DOORBELL_PORT=8071 DOORBELL_DATABASE=/data/doorbell.db
COPY --from=build /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
# SQLite's default file lives in a volume the unprivileged user owns (/app belongs to root).
RUN mkdir /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 8071
ENTRYPOINT ["node", "bin/doorbell.js"]
CMD ["serve"]
