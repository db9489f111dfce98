# shellcheck shell=bash
# Private Dovecot (Debian's dovecot-core) as nothing but a SASL auth service on a loopback
# port: the test Postfix's submission smtpd asks it (smtpd_sasl_type = dovecot) whether a
# user's password is right, for the proxy's `auth: upstream` tests. No mail protocol runs.

DOVECOT_DIR="$SSP_RUN_DIR/dovecot"
# The test users and their passwords (PLAIN: a private test instance; the tests know them).
DOVECOT_USERS=(alice bob)

dovecot_port()    { printf '%s\n' "$SSP_DOVECOT_PORT"; }
dovecot_log()     { printf '%s\n' "$DOVECOT_DIR/dovecot.log"; }
dovecot_timeout() { printf '20\n'; }
dovecot_pid()     { pid_of "$DOVECOT_DIR/dovecot.pid" dovecot; }
dovecot_ready()   { port_open "$SSP_DOVECOT_PORT"; }

# shellcheck disable=SC2034 # the DOVECOT_* locals are read by render via ${!var}
dovecot_launch() {
  local user DOVECOT_USER DOVECOT_GROUP DOVECOT_LOGIN_USER
  mkdir -p "$DOVECOT_DIR/run" "$DOVECOT_DIR/state"
  touch "$(dovecot_log)"
  for user in "${DOVECOT_USERS[@]}"; do
    printf '%s@%s:{PLAIN}%s-password\n' "$user" "$PF_DOMAIN" "$user"
  done >"$DOVECOT_DIR/passwd"
  # Dovecot's master runs as root and starts its auth process as the dovecot user itself;
  # without root, everything runs as the caller.
  if ((EUID == 0)); then
    DOVECOT_USER=dovecot DOVECOT_GROUP=dovecot DOVECOT_LOGIN_USER=dovenull
    check_reachable dovecot "$DOVECOT_DIR"
    chown dovecot: "$DOVECOT_DIR/passwd" "$(dovecot_log)"
  else
    DOVECOT_USER=$(id -un) DOVECOT_GROUP=$(id -gn) DOVECOT_LOGIN_USER=$(id -un)
  fi
  chmod 600 "$DOVECOT_DIR/passwd"
  render "$SSP_SCRIPTS/templates/dovecot.conf" "$DOVECOT_DIR/dovecot.conf" DOVECOT_DIR SSP_DOVECOT_PORT \
    DOVECOT_USER DOVECOT_GROUP DOVECOT_LOGIN_USER
  # -F: foreground, so the recorded pid is Dovecot's master itself.
  spawn "$DOVECOT_DIR/dovecot.pid" "$(dovecot_log)" dovecot -F -c "$DOVECOT_DIR/dovecot.conf"
}

dovecot_stop() {
  local pid
  pid=$(dovecot_pid) || return 0
  kill_and_wait "$pid" dovecot 10
}
