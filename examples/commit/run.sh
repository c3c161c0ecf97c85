#!/usr/bin/env bash
# The first way to make an image: change a container by hand, then commit it.
# The same steps as examples/commit/README.md, without a terminal: the shell
# of the container reads its commands from stdin (`-i`, no `-t`).
set -euo pipefail
cd "$(dirname "$0")"
../debian-base.sh
strata container rm -f containercriado >/dev/null 2>&1 || true

strata container run -i --name containercriado debian bash <<'SHELL'
apt-get update
apt-get install -y nginx
SHELL
strata container stop containercriado
strata container commit containercriado meuubuntu:nginx
installed=$(strata container run --rm meuubuntu:nginx dpkg -l nginx)
echo "$installed"
strata container rm containercriado

# Check: dpkg lists nginx as installed ("ii") in the committed image, and
# the commit is one step on top of debian.
grep -q '^ii  nginx ' <<<"$installed" || { echo "FAIL: nginx not installed in meuubuntu:nginx" >&2; exit 1; }
steps() { strata image history -q "$1" | wc -l; }
[[ $(steps meuubuntu:nginx) == $(( $(steps debian) + 1 )) ]] || { echo "FAIL: expected one step on top of debian" >&2; exit 1; }
echo "OK: meuubuntu:nginx has nginx installed"
