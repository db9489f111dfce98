# shellcheck shell=bash
# Private spamd: Debian's shipped rules, local tests only, on a loopback port.

SPAMD_DIR="$SSP_RUN_DIR/spamd"
SPAMD_SITE="$SPAMD_DIR/site"
SPAMD_HOME="$SPAMD_DIR/home"
SPAMD_LOG="$SPAMD_DIR/spamd.log"
# spamd will not keep running as root; it would switch to nobody anyway.
SPAMD_USER=nobody

spamd_port()    { printf '%s\n' "$SSP_SPAMD_PORT"; }
spamd_log()     { printf '%s\n' "$SPAMD_LOG"; }
spamd_timeout() { printf '60\n'; }
spamd_pid()     { pid_of "$SPAMD_DIR/spamd.pid" spamd; }

# A TCP connect succeeds ~0.7 s before spamd answers, so only PONG counts.
spamd_ready() {
  local fd line=
  tcp_open "$SSP_SPAMD_PORT" || return 1
  printf 'PING SPAMC/1.5\r\n\r\n' >&"$fd"
  IFS= read -r -t 3 line <&"$fd" || true
  exec {fd}>&-
  [[ $line == 'SPAMD/1.5 0 PONG'* ]]
}

spamd_launch() {
  local pre
  [[ -d $SSP_SPAMD_RULES_DIR ]] || die "spamd rules directory $SSP_SPAMD_RULES_DIR is missing (package spamassassin)"
  mkdir -p "$SPAMD_SITE" "$SPAMD_HOME"
  check_reachable "$SPAMD_USER" "$SPAMD_SITE"
  rm -f -- "$SPAMD_SITE"/*.pre
  for pre in /etc/spamassassin/*.pre; do
    [[ -e $pre ]] && cp -- "$pre" "$SPAMD_SITE/"
  done
  render "$SSP_SCRIPTS/templates/spamd-local.cf" "$SPAMD_SITE/local.cf"
  chown "$SPAMD_USER" "$SPAMD_HOME"
  touch "$SPAMD_LOG"
  # Foreground (no -d) so the pid we record is the parent that owns the children.
  # -x: no per-user config; -H: a home for the helper instead of nobody's /nonexistent.
  # --syslog=stderr: a log file (-s FILE) in the foreground gets every line twice.
  spawn "$SPAMD_DIR/spamd.pid" "$SPAMD_LOG" \
    spamd -L -x -u "$SPAMD_USER" -H "$SPAMD_HOME" \
    --listen="127.0.0.1:$SSP_SPAMD_PORT" --allowed-ips=127.0.0.1 \
    --max-children="$SSP_SPAMD_CHILDREN" --min-children=1 \
    --configpath="$SSP_SPAMD_RULES_DIR" --siteconfigpath="$SPAMD_SITE" \
    --syslog=stderr
}

spamd_stop() {
  local pid
  pid=$(spamd_pid) || return 0
  kill_and_wait "$pid" spamd 20
}
