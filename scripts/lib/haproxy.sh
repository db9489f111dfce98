# shellcheck shell=bash
# HAProxy (Debian's 2.6) in front of two smtp-scan-proxy instances, as scale-out runs it
# (docs/scale-out.md). The instances are not ours: the tests start them on the two backend
# ports, so HAProxy starts with both servers DOWN and its SMTP checks bring them UP.

HAPROXY_DIR="$SSP_RUN_DIR/haproxy"
HAPROXY_CONF="$HAPROXY_DIR/haproxy.cfg"

haproxy_port()    { printf '%s\n' "$SSP_HAPROXY_PORT"; }
haproxy_log()     { printf '%s\n' "$HAPROXY_DIR/haproxy.log"; }
haproxy_timeout() { printf '20\n'; }
haproxy_pid()     { pid_of "$HAPROXY_DIR/haproxy.pid" haproxy; }
# No backend need be up, so no banner is expected: the frontend accepting is enough.
haproxy_ready()   { port_open "$SSP_HAPROXY_PORT"; }

haproxy_launch() {
  mkdir -p "$HAPROXY_DIR"
  render "$SSP_SCRIPTS/templates/haproxy.cfg" "$HAPROXY_CONF" \
    SSP_HAPROXY_SOCKET SSP_HAPROXY_PORT SSP_HAPROXY_BACKEND1_PORT SSP_HAPROXY_BACKEND2_PORT
  # A config error is reported here, with its line, instead of as a daemon that died.
  haproxy -c -q -f "$HAPROXY_CONF" || die "haproxy: $HAPROXY_CONF is invalid"
  # -db: stay in the foreground, one process, so the pid spawn records is HAProxy itself
  # and stop by pidfile works as for the other daemons (no master-worker, no daemon fork).
  spawn "$HAPROXY_DIR/haproxy.pid" "$(haproxy_log)" haproxy -db -f "$HAPROXY_CONF"
}

# TERM is HAProxy's hard stop: it closes every session at once (USR1 would wait for them).
haproxy_stop() {
  local pid
  pid=$(haproxy_pid) || return 0
  kill_and_wait "$pid" haproxy 10
}
