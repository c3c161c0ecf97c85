#!/usr/bin/env bash
# The layer cache: build, build again (every step CACHED), then change one
# line and see that the steps before it stay CACHED and it and the steps
# after it run again. Builds from a copy of the Dockerfile: the example's
# own file is left as it is.
set -euo pipefail
cd "$(dirname "$0")"
../debian-base.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp Dockerfile "$work/Dockerfile"

build() {  # prints and keeps the step lines: "#N [i/n] INSTRUCTION", "#N CACHED", "#N DONE 1.2s"
  strata image build --progress plain -t cache:demo -f "$work/Dockerfile" . 2>&1 | tee "$work/log"
}
# verdict N: CACHED or DONE for step N of the last build
verdict() { grep -oE "^#$1 (CACHED|DONE)" "$work/log" | cut -d' ' -f2; }
expect() {  # expect STEP VERDICT
  [[ $(verdict "$1") == "$2" ]] || { echo "FAIL: step $1 should be $2, was '$(verdict "$1")'" >&2; exit 1; }
}

echo "== first build: every step runs (unless an earlier run cached it)"
build
echo "== same Dockerfile again: every step CACHED"
build
expect 2 CACHED; expect 3 CACHED; expect 4 CACHED

echo "== the php line changed (php-cli -> php-cli php-curl): steps before it CACHED, it runs"
sed -i 's/^RUN apt-get install -y php-cli$/RUN apt-get install -y php-cli php-curl/' "$work/Dockerfile"
build
expect 2 CACHED; expect 3 CACHED; expect 4 DONE

strata container run --rm cache:demo php -r 'echo "php ", PHP_VERSION, "\n";'
echo "OK: the cache re-ran exactly the changed step and the steps after it"
