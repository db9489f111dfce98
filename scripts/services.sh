#!/usr/bin/env bash
# Private, loopback-only instances of the daemons the tests need.
# See scripts/README.md for ports, paths and environment variables.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

LIB="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)/lib"
# shellcheck source=lib/common.sh
source "$LIB/common.sh"
# shellcheck source=lib/install.sh
source "$LIB/install.sh"
# shellcheck source=lib/postfix.sh
source "$LIB/postfix.sh"
# shellcheck source=lib/sink.sh
source "$LIB/sink.sh"
# shellcheck source=lib/clamd.sh
source "$LIB/clamd.sh"
# shellcheck source=lib/spamd.sh
source "$LIB/spamd.sh"
# shellcheck source=lib/haproxy.sh
source "$LIB/haproxy.sh"
# shellcheck source=lib/rbldnsd.sh
source "$LIB/rbldnsd.sh"
# shellcheck source=lib/redis.sh
source "$LIB/redis.sh"
# shellcheck source=lib/dovecot.sh
source "$LIB/dovecot.sh"
# shellcheck source=lib/rspamd.sh
source "$LIB/rspamd.sh"
# shellcheck source=lib/unbound.sh
source "$LIB/unbound.sh"

usage() {
  cat >&2 <<'EOF'
usage: scripts/services.sh COMMAND [postfix|sink|clamd|spamd|haproxy|rbldnsd|redis|dovecot|rspamd|unbound|all]...   (default: all)
  install        apt-get install the missing packages (root)
  start          start what is not running, wait until each answers
  stop           stop by pidfile
  restart        stop, then start
  status         running/stopped and port of each (exit 3 if any is stopped)
  env            print `export VAR=value` lines for the tests
  mailbox-clear  empty all virtual mailboxes of the test Postfix
  selftest       check every service end to end (needs all four running)
  --auto         (start/stop, for with-services.sh) start: mark what this call
                 starts; stop: stop only marked services
EOF
  exit 2
}

now_us() { printf '%s\n' "${EPOCHREALTIME/./}"; }
elapsed() { local d=$(($(now_us) - $1)); printf '%d.%ds' $((d / 1000000)) $((d / 100000 % 10)); }

LAUNCHED=()
# A failed start takes down what it launched, so the next start begins clean.
undo_launch() {
  local s
  for s in "${LAUNCHED[@]}"; do "${s}_stop" || true; rm -f -- "$SSP_RUN_DIR/$s/.auto"; done
}

# Each service gets its own waiter as soon as it is launched, so a slow one
# (spamd) delays nobody and each reported time is that service's own. spamd is
# the slowest, so it goes first.
cmd_start() {
  local s pid port order=() failed=()
  local -A waiter=()
  trap undo_launch EXIT
  for s in spamd rspamd clamd sink postfix haproxy rbldnsd redis dovecot unbound; do
    [[ " ${SERVICES[*]} " == *" $s "* ]] && order+=("$s")
  done
  for s in "${order[@]}"; do
    port=$("${s}_port")
    if pid=$("${s}_pid"); then
      # An explicit start adopts an auto-started service, so with-services.sh
      # will not stop it later.
      ((AUTO)) || rm -f -- "$SSP_RUN_DIR/$s/.auto"
      say "$s: already running (pid $pid)"
      wait_ready "$s" "" &
    else
      if port_open "$port"; then
        die "$s: 127.0.0.1:$port is already in use by a process that is not ours (set SSP_${s^^}_PORT)"
      fi
      local t0
      t0=$(now_us)
      LAUNCHED+=("$s")
      # fd 9 is the lock; a daemon inheriting it would hold it forever.
      "${s}_launch" 9>&-
      if ((AUTO)); then touch "$SSP_RUN_DIR/$s/.auto"; else rm -f -- "$SSP_RUN_DIR/$s/.auto"; fi
      wait_ready "$s" "$t0" 9>&- &
    fi
    waiter[$s]=$!
  done
  for s in "${order[@]}"; do
    wait "${waiter[$s]}" || failed+=("$s")
  done
  ((${#failed[@]} == 0)) || die "not ready: ${failed[*]}"
  trap - EXIT
}

# Waits for service $1, launched at $2 (empty: it was already running).
wait_ready() {
  local s=$1 t0=$2 port limit
  port=$("${s}_port") limit=$("${s}_timeout")
  if ! wait_for "$limit" service_up "$s"; then
    show_log "$("${s}_log")"
    warn "$s: not ready on 127.0.0.1:$port within ${limit}s"
    return 1
  fi
  [[ -z $t0 ]] || say "$s: started, ready on 127.0.0.1:$port after $(elapsed "$t0") (pid $("${s}_pid"))"
}

# Ready, or fail the wait at once when the daemon has already died.
service_up() {
  local s=$1
  # /proc/PID/cmdline can read empty or half-written for a moment while a launcher (setsid,
  # setpriv) execs the daemon or the daemon renames itself: one miss is not yet a death.
  for _ in 1 2 3; do
    if "${s}_pid" >/dev/null; then
      "${s}_ready"
      return
    fi
    sleep 0.1
  done
  show_log "$("${s}_log")"
  die "$s: exited during start-up"
}

cmd_stop() {
  local s pid
  for s in "${SERVICES[@]}"; do
    if ((AUTO)) && [[ ! -e $SSP_RUN_DIR/$s/.auto ]]; then continue; fi
    if pid=$("${s}_pid"); then
      "${s}_stop"
      say "$s: stopped (was pid $pid)"
    else
      say "$s: not running"
    fi
    rm -f -- "$SSP_RUN_DIR/$s/.auto" "$SSP_RUN_DIR/$s/$s.pid"
  done
}

cmd_status() {
  local s pid port rc=0 note
  for s in "${SERVICES[@]}"; do
    port=$("${s}_port")
    if pid=$("${s}_pid"); then
      note=ready
      "${s}_ready" || note='NOT answering'
      [[ -e $SSP_RUN_DIR/$s/.auto ]] && note+=', started by with-services.sh'
      printf '%-8s running  pid %-8s 127.0.0.1:%-6s %s\n' "$s" "$pid" "$port" "$note"
    else
      printf '%-8s stopped                127.0.0.1:%s\n' "$s" "$port"
      rc=3
    fi
  done
  return "$rc"
}

cmd_env() {
  local v
  for v in SSP_RUN_DIR SSP_POSTFIX_PORT SSP_POSTFIX_OPEN_PORT SSP_POSTFIX_SHORT_TIMEOUT_PORT SSP_POSTFIX_IPV6_PORT SSP_POSTFIX_NO_CHUNKING_PORT SSP_POSTFIX_BEFORE_QUEUE_PORT SSP_PROXY_FILTER_PORT SSP_POSTFIX_AFTER_FILTER_PORT SSP_SINK_PORT SSP_CLAMD_PORT SSP_SPAMD_PORT SSP_RBLDNSD_PORT SSP_REDIS_PORT SSP_DOVECOT_PORT SSP_POSTFIX_SUBMISSION_PORT SSP_UNBOUND_PORT SSP_RSPAMD_PORT SSP_RSPAMD_CONTROLLER_PORT SSP_HAPROXY_PORT SSP_HAPROXY_BACKEND1_PORT SSP_HAPROXY_BACKEND2_PORT \
    SSP_CLAMD_SOCKET SSP_HAPROXY_SOCKET SSP_POSTFIX_MAILDIR SSP_POSTFIX_LOG SSP_TLS_CERT SSP_TLS_KEY; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
}

(($# >= 1)) || usage
COMMAND=$1; shift
AUTO=0
SERVICES=()
for arg in "$@"; do
  case $arg in
    --auto) AUTO=1 ;;
    all) SERVICES+=("${ALL_SERVICES[@]}") ;;
    postfix | sink | clamd | spamd | haproxy | rbldnsd | redis | dovecot | rspamd | unbound) SERVICES+=("$arg") ;;
    *) warn "unknown service '$arg'"; usage ;;
  esac
done
((${#SERVICES[@]})) || SERVICES=("${ALL_SERVICES[@]}")

case $COMMAND in
  env) cmd_env; exit 0 ;;
  install) install_packages; exit 0 ;;
  -h | --help | help) usage ;;
esac

ensure_run_dir
if [[ $COMMAND == start || $COMMAND == stop || $COMMAND == restart ]]; then
  # One start/stop at a time: concurrent test runs share the run directory.
  exec 9>"$SSP_RUN_DIR/.services.lock"
  flock -w 180 9 || die "timed out waiting for another services.sh (lock $SSP_RUN_DIR/.services.lock)"
fi

case $COMMAND in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  mailbox-clear) postfix_mailbox_clear ;;
  selftest)
    # shellcheck source=lib/selftest.sh
    source "$LIB/selftest.sh"
    selftest
    ;;
  *) warn "unknown command '$COMMAND'"; usage ;;
esac
