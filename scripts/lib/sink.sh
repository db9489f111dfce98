# shellcheck shell=bash
# smtp-sink (from the postfix package): a fast upstream that accepts everything.

SINK_DIR="$SSP_RUN_DIR/sink"

sink_port()    { printf '%s\n' "$SSP_SINK_PORT"; }
sink_log()     { printf '%s\n' "$SINK_DIR/sink.log"; }
sink_timeout() { printf '20\n'; }
sink_pid()     { pid_of "$SINK_DIR/sink.pid" smtp-sink; }
sink_ready()   { smtp_banner_ok "$SSP_SINK_PORT"; }

sink_launch() {
  local extra=()
  mkdir -p "$SINK_DIR"
  # SSP_SINK_ARGS adds smtp-sink options, e.g. fault injection: "-q rcpt" or "-r data".
  read -r -a extra <<<"$SSP_SINK_ARGS"
  # -u: it refuses to run as root. -m: concurrent sessions (default 256).
  # The last argument is the listen backlog.
  spawn "$SINK_DIR/sink.pid" "$(sink_log)" \
    smtp-sink -u postfix -h sink.example.test -m "$SSP_SINK_MAX_CONN" "${extra[@]}" \
    "127.0.0.1:$SSP_SINK_PORT" 1024
}

sink_stop() {
  local pid
  pid=$(sink_pid) || return 0
  kill_and_wait "$pid" smtp-sink 10
}
