# shellcheck shell=bash
# Private clamd with a generated EICAR-only database (freshclam has no internet).

CLAMD_DIR="$SSP_RUN_DIR/clamd"
CLAMD_DB="$CLAMD_DIR/db"
CLAMD_CONF="$CLAMD_DIR/clamd.conf"
CLAMD_LOG="$CLAMD_DIR/clamd.log"
# The 68-byte EICAR test file, kept as hex so no scanner flags this script.
EICAR_HEX=58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a
EICAR_NAME=Eicar-Test-Signature

clamd_port()    { printf '%s\n' "$SSP_CLAMD_PORT"; }
clamd_log()     { printf '%s\n' "$CLAMD_LOG"; }
clamd_timeout() { printf '20\n'; }
clamd_pid()     { pid_of "$CLAMD_DIR/clamd.pid" clamd; }

# zPING over TCP; the unix socket must exist too.
clamd_ready() {
  local fd reply=
  [[ -S $SSP_CLAMD_SOCKET ]] || return 1
  tcp_open "$SSP_CLAMD_PORT" || return 1
  printf 'zPING\0' >&"$fd"
  IFS= read -r -d '' -t 3 reply <&"$fd" || true
  exec {fd}>&-
  [[ $reply == PONG ]]
}

# shellcheck disable=SC2001 # ${//} with & needs bash 5.2
eicar_bytes() { printf '%b' "$(sed 's/../\\x&/g' <<<"$EICAR_HEX")"; }

# Both hits report "$EICAR_NAME.UNOFFICIAL": a body signature (.ndb) that finds
# the string anywhere, e.g. inside a decoded attachment or archive member, and a
# sha256 hash signature (.hsb) of the exact file.
clamd_write_db() {
  local sha
  mkdir -p "$CLAMD_DB"
  printf '%s:0:*:%s\n' "$EICAR_NAME" "$EICAR_HEX" >"$CLAMD_DB/ssp-eicar.ndb"
  sha=$(eicar_bytes | sha256sum)
  printf '%s:68:%s:73\n' "${sha%% *}" "$EICAR_NAME" >"$CLAMD_DB/ssp-eicar.hsb"
}

clamd_launch() {
  mkdir -p "$CLAMD_DIR"
  clamd_write_db
  render "$SSP_SCRIPTS/templates/clamd.conf" "$CLAMD_CONF" \
    CLAMD_LOG CLAMD_DB SSP_CLAMD_PORT SSP_CLAMD_SOCKET
  touch "$CLAMD_LOG"
  spawn "$CLAMD_DIR/clamd.pid" "$CLAMD_LOG" clamd --config-file="$CLAMD_CONF"
}

clamd_stop() {
  local pid
  pid=$(clamd_pid) || return 0
  kill_and_wait "$pid" clamd 20
}
