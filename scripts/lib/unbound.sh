# shellcheck shell=bash
# unbound (Debian's): the DNS server the DKIM tests publish their keys' TXT records in, at run
# time, with unbound-control local_data (scripts/README.md). Loopback only, the test zone only.

UNBOUND_DIR="$SSP_RUN_DIR/unbound"

unbound_port()    { printf '%s\n' "$SSP_UNBOUND_PORT"; }
unbound_log()     { printf '%s\n' "$UNBOUND_DIR/unbound.log"; }
unbound_timeout() { printf '15\n'; }
unbound_pid()     { pid_of "$UNBOUND_DIR/unbound.pid" unbound; }
# The template's ready.dkim.test answers only once the config and its local zones are loaded
# (dns_a_answered: scripts/lib/rbldnsd.sh).
unbound_ready()   { dns_a_answered "$SSP_UNBOUND_PORT" '\005ready\004dkim\004test\000'; }

unbound_launch() {
  local UNBOUND_USER=''
  mkdir -p "$UNBOUND_DIR"
  chmod 755 "$UNBOUND_DIR"
  if ((EUID == 0)); then
    # Debian's package makes this user; unbound drops to it once its sockets are open.
    UNBOUND_USER=unbound
    check_reachable "$UNBOUND_USER" "$UNBOUND_DIR"
  fi
  render "$SSP_SCRIPTS/templates/unbound.conf" "$UNBOUND_DIR/unbound.conf" SSP_UNBOUND_PORT UNBOUND_USER UNBOUND_DIR
  touch "$(unbound_log)"
  rm -f -- "$UNBOUND_DIR/unbound.ctl"
  # -d: foreground, so the recorded pid is unbound's own; its log goes to stderr, into the log.
  spawn "$UNBOUND_DIR/unbound.pid" "$(unbound_log)" unbound -d -c "$UNBOUND_DIR/unbound.conf"
}

unbound_stop() {
  local pid
  pid=$(unbound_pid) || return 0
  kill_and_wait "$pid" unbound 10
}
