#!/usr/bin/env bash
# The second way to make an image: a Dockerfile, built step by step.
set -euo pipefail
cd "$(dirname "$0")"
../debian-base.sh

strata image build -t meuubuntu:nginx_auto .
copied=$(strata container run --rm meuubuntu:nginx_auto cat /tmp/arquivo_teste)
installed=$(strata container run --rm meuubuntu:nginx_auto dpkg -l nginx)
config=$(strata image inspect meuubuntu:nginx_auto)

# Checks: the COPY brought the file from the build context, the RUN
# installed nginx, and `CMD bash` became Docker's shell form.
[[ $copied == "$(cat arquivo_teste)" ]] || { echo "FAIL: /tmp/arquivo_teste differs from the context's" >&2; exit 1; }
grep -q '^ii  nginx ' <<<"$installed" || { echo "FAIL: nginx not installed" >&2; exit 1; }
tr -d ' \n' <<<"$config" | grep -q '"Cmd":\["/bin/sh","-c","bash"\]' || { echo "FAIL: CMD is not [/bin/sh -c bash]" >&2; exit 1; }
echo "OK: meuubuntu:nginx_auto has nginx and /tmp/arquivo_teste, CMD bash"
