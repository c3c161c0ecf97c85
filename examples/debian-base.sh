#!/usr/bin/env bash
# The base image every example starts FROM: `debian`, a Debian bookworm
# made with debootstrap from this machine's Debian mirror (about 90 s, once
# per store). Docker would pull `debian` from Docker Hub; strata builds it.
set -euo pipefail
if ! strata image inspect debian >/dev/null 2>&1; then
  strata image bootstrap debian:bookworm
  strata image tag debian:bookworm debian
fi
