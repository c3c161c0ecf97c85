FROM redis:7
HEALTHCHECK NONE
FROM postgres:16
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --start-interval=1s --retries=5 \
  CMD ["pg_isready", "-U", "postgres"]
