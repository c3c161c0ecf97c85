FROM node:lts-bookworm-slim
ARG NODE_ENV=production
ENV NODE_ENV=$NODE_ENV
WORKDIR /home/node/app
COPY --chown=node:node package.json package-lock.json ./
RUN npm ci && npm cache clean --force
COPY --chown=node:node . .
USER node
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD node healthcheck.js || exit 1
EXPOSE 3000/tcp
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["node", "index.js"]
