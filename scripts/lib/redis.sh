# shellcheck shell=bash
# Private Redis (Debian's redis-server): the shared store of the proxy's rate limits
# (screening.rateLimits.store: redis). Loopback only, nothing kept on disk.

REDIS_DIR="$SSP_RUN_DIR/redis"
# Debian's package makes this user; as root, Redis gets no more rights than it needs.
REDIS_USER=redis

redis_port()    { printf '%s\n' "$SSP_REDIS_PORT"; }
redis_log()     { printf '%s\n' "$REDIS_DIR/redis.log"; }
redis_timeout() { printf '20\n'; }
redis_pid()     { pid_of "$REDIS_DIR/redis.pid" redis-server; }

# Redis accepts connections while it still loads; only +PONG means it answers commands.
redis_ready() {
  local fd line=
  tcp_open "$SSP_REDIS_PORT" || return 1
  printf 'PING\r\n' >&"$fd"
  IFS= read -r -t 3 line <&"$fd" || true
  exec {fd}>&-
  [[ $line == '+PONG'* ]]
}

redis_launch() {
  local as=()
  mkdir -p "$REDIS_DIR"
  touch "$(redis_log)"
  if ((EUID == 0)); then
    check_reachable "$REDIS_USER" "$REDIS_DIR"
    chown "$REDIS_USER:" "$REDIS_DIR"
    as=(setpriv --reuid="$REDIS_USER" --regid="$REDIS_USER" --clear-groups --)
  fi
  # Foreground (daemonize no) so the recorded pid is Redis itself; logs go to stdout, into
  # the log. --save '' and --appendonly no: the counters are worth nothing after a restart.
  spawn "$REDIS_DIR/redis.pid" "$(redis_log)" \
    "${as[@]}" redis-server --bind 127.0.0.1 --port "$SSP_REDIS_PORT" \
    --daemonize no --save '' --appendonly no --dir "$REDIS_DIR" --logfile ''
}

redis_stop() {
  local pid
  pid=$(redis_pid) || return 0
  kill_and_wait "$pid" redis-server 10
}
