#!/usr/bin/env bash
# Usage: scripts/with-services.sh CMD [ARGS...]
# Installs what is missing, starts the services that are not running, runs CMD
# with the SSP_* variables exported, then stops what it started. Exits with CMD's
# status. `npm test` runs the test suite through this.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
SERVICES="$HERE/services.sh"
(($# >= 1)) || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }

env_lines=$("$SERVICES" env)
eval "$env_lines"
# The same checks services.sh makes before the lock file goes in (the run dir may be in /tmp).
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
ensure_run_dir

# Several test runs may share one checkout (and so one run directory). Each holds
# a shared lock on fd 8 while it runs; only the last one out stops the services
# that with-services.sh started (marked by `start --auto`). Services started by
# hand with `services.sh start` carry no mark and are never stopped here.
exec 8>"$SSP_RUN_DIR/.users.lock"
flock -s 8

# shellcheck disable=SC2317 # reached through the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if flock -xn 8; then
    "$SERVICES" stop --auto 8>&- || rc=$((rc ? rc : 1))
  else
    echo "with-services: another run still uses the services; leaving them to it" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

"$SERVICES" install 8>&-
"$SERVICES" start --auto 8>&-

# CMD runs in the background so a TERM (a CI timeout, say) reaches this shell at
# once and is passed on. INT is not passed on: Ctrl-C already reaches CMD
# directly, as it shares the terminal's process group. `<&0` keeps stdin, which
# a background job would otherwise lose to /dev/null.
child=
trap '[[ -n $child ]] && kill -TERM "$child" 2>/dev/null' TERM
trap '[[ -n $child ]] && kill -HUP "$child" 2>/dev/null' HUP
trap ':' INT
"$@" 8>&- <&0 &
child=$!
while :; do
  set +e
  wait "$child"
  rc=$?
  set -e
  # wait also returns when a trapped signal arrives; a zombie still passes kill -0.
  kill -0 "$child" 2>/dev/null || break
done
exit "$rc"
