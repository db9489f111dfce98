# shellcheck shell=bash
# Private Rspamd (Debian's rspamd 3.4): the normal worker (/checkv2, the proxy's scanner) and
# the controller on loopback ports, its config, database and log in the run dir. Offline: the
# modules that ask DNS or the internet are off, and what DNS is left goes to our rbldnsd port
# (it answers only its own zones, at once). No Redis: Bayes, greylisting, ratelimit and the
# other Redis modules stay off by themselves.

RSPAMD_DIR="$SSP_RUN_DIR/rspamd"
# Debian's package makes this user; as root, Rspamd gets no more rights than it needs.
RSPAMD_USER=_rspamd
# Network lookups (DNS lists, SPF/DKIM/DMARC, ASN), network maps and services (fuzzy storage,
# phishing feeds, rspamd.com updates, DCC): off, so scores are the same on every machine.
RSPAMD_OFFLINE_MODULES=(rbl surbl spf dkim dmarc arc asn fuzzy_check phishing rspamd_update dcc
  url_redirector mx_check emails whitelist reputation once_received hfilter bimi external_services)

rspamd_port()    { printf '%s\n' "$SSP_RSPAMD_PORT"; }
rspamd_log()     { printf '%s\n' "$RSPAMD_DIR/rspamd.log"; }
rspamd_timeout() { printf '60\n'; }
rspamd_pid()     { pid_of "$RSPAMD_DIR/rspamd.pid" rspamd; }

# The worker listens before its rules are compiled; only its own pong counts.
rspamd_ready() {
  local fd line=
  tcp_open "$SSP_RSPAMD_PORT" || return 1
  printf 'GET /ping HTTP/1.0\r\n\r\n' >&"$fd"
  IFS= read -r -t 3 line <&"$fd" || true
  exec {fd}>&-
  [[ $line == 'HTTP/1.'?' 200'* ]]
}

rspamd_launch() {
  local as=() module
  mkdir -p "$RSPAMD_DIR/local.d" "$RSPAMD_DIR/db"
  render "$SSP_SCRIPTS/templates/rspamd.conf" "$RSPAMD_DIR/rspamd.conf" RSPAMD_DIR SSP_RSPAMD_PORT SSP_RSPAMD_CONTROLLER_PORT SSP_RSPAMD_WORKERS
  rm -f -- "$RSPAMD_DIR"/local.d/*.conf
  for module in "${RSPAMD_OFFLINE_MODULES[@]}"; do
    printf 'enabled = false;\n' >"$RSPAMD_DIR/local.d/$module.conf"
  done
  printf 'dns { nameserver = ["127.0.0.1:%s"]; timeout = 0.5s; retransmits = 1; }\n' "$SSP_RBLDNSD_PORT" >"$RSPAMD_DIR/local.d/options.inc"
  # Warnings and errors only: info is a few lines per scan, and benchmarks scan thousands.
  printf 'level = "warning";\n' >"$RSPAMD_DIR/local.d/logging.inc"
  touch "$(rspamd_log)"
  if ((EUID == 0)); then
    check_reachable "$RSPAMD_USER" "$RSPAMD_DIR"
    chown -R "$RSPAMD_USER:" "$RSPAMD_DIR/db" "$(rspamd_log)"
    chown "$RSPAMD_USER:" "$RSPAMD_DIR"
    as=(setpriv --reuid="$RSPAMD_USER" --regid="$RSPAMD_USER" --clear-groups --)
  fi
  # Foreground (-f) so the recorded pid is Rspamd's main process, which writes its pidfile too.
  spawn "$RSPAMD_DIR/rspamd.pid" "$(rspamd_log)" \
    "${as[@]}" rspamd -f -c "$RSPAMD_DIR/rspamd.conf" \
    --var "LOCAL_CONFDIR=$RSPAMD_DIR" --var "DBDIR=$RSPAMD_DIR/db" --var "RUNDIR=$RSPAMD_DIR" --var "LOGDIR=$RSPAMD_DIR"
}

rspamd_stop() {
  local pid
  pid=$(rspamd_pid) || return 0
  kill_and_wait "$pid" rspamd 20
}
