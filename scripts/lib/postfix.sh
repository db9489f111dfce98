# shellcheck shell=bash
# Private Postfix instance: `postfix -c $PF_ETC`, everything under $SSP_RUN_DIR/postfix.

PF_DIR="$SSP_RUN_DIR/postfix"
PF_ETC="$PF_DIR/etc"
PF_QUEUE="$PF_DIR/queue"
PF_DATA="$PF_DIR/data"
PF_USERS=(alice bob carol postmaster)
PF_DOMAIN=example.test

postfix_port()    { printf '%s\n' "$SSP_POSTFIX_PORT"; }
postfix_log()     { printf '%s\n' "$SSP_POSTFIX_LOG"; }
postfix_timeout() { printf '20\n'; }
# master(8) writes this itself; postfix/postfix.pid is a symlink to it.
postfix_pid()     { pid_of "$PF_QUEUE/pid/master.pid" master; }
postfix_ready() {
  local port
  for port in "$SSP_POSTFIX_PORT" "$SSP_POSTFIX_OPEN_PORT" "$SSP_POSTFIX_SHORT_TIMEOUT_PORT" "$SSP_POSTFIX_IPV6_PORT" "$SSP_POSTFIX_NO_CHUNKING_PORT" "$SSP_POSTFIX_SUBMISSION_PORT" \
    "$SSP_POSTFIX_BEFORE_QUEUE_PORT" "$SSP_POSTFIX_AFTER_FILTER_PORT"; do
    smtp_banner_ok "$port" || return 1
  done
}

postfix_configure() {
  # shellcheck disable=SC2034 # POSTFIX_LISTEN is read by render via ${!var}
  local PF_VUID PF_VGID POSTFIX_LISTEN="127.0.0.1:$SSP_POSTFIX_PORT" user \
    POSTFIX_OPEN_LISTEN="127.0.0.1:$SSP_POSTFIX_OPEN_PORT" \
    POSTFIX_SHORT_TIMEOUT_LISTEN="127.0.0.1:$SSP_POSTFIX_SHORT_TIMEOUT_PORT" \
    POSTFIX_IPV6_LISTEN="127.0.0.1:$SSP_POSTFIX_IPV6_PORT" \
    POSTFIX_NO_CHUNKING_LISTEN="127.0.0.1:$SSP_POSTFIX_NO_CHUNKING_PORT" \
    POSTFIX_SUBMISSION_LISTEN="127.0.0.1:$SSP_POSTFIX_SUBMISSION_PORT" \
    POSTFIX_BEFORE_QUEUE_LISTEN="127.0.0.1:$SSP_POSTFIX_BEFORE_QUEUE_PORT" \
    POSTFIX_PROXY_FILTER="127.0.0.1:$SSP_PROXY_FILTER_PORT" \
    POSTFIX_AFTER_FILTER_LISTEN="127.0.0.1:$SSP_POSTFIX_AFTER_FILTER_PORT"
  PF_VUID=$(id -u postfix) PF_VGID=$(id -g postfix)
  mkdir -p "$PF_ETC" "$PF_QUEUE" "$SSP_POSTFIX_MAILDIR"
  # master.lock and the TLS caches live here, written by the postfix user.
  install -d -o postfix -g root -m 700 "$PF_DATA"
  check_reachable postfix "$SSP_POSTFIX_MAILDIR"
  ensure_tls_cert
  render "$SSP_SCRIPTS/templates/postfix-main.cf" "$PF_ETC/main.cf" \
    PF_QUEUE PF_DATA PF_ETC PF_VUID PF_VGID SSP_RUN_DIR SSP_POSTFIX_LOG \
    SSP_POSTFIX_MAILDIR SSP_TLS_CERT SSP_TLS_KEY
  render "$SSP_SCRIPTS/templates/postfix-master.cf" "$PF_ETC/master.cf" POSTFIX_LISTEN \
    POSTFIX_OPEN_LISTEN POSTFIX_SHORT_TIMEOUT_LISTEN POSTFIX_IPV6_LISTEN POSTFIX_NO_CHUNKING_LISTEN POSTFIX_SUBMISSION_LISTEN SSP_DOVECOT_PORT \
    POSTFIX_BEFORE_QUEUE_LISTEN POSTFIX_PROXY_FILTER POSTFIX_AFTER_FILTER_LISTEN
  # texthash: needs no postmap. A trailing slash means Maildir.
  for user in "${PF_USERS[@]}"; do
    printf '%s@%s %s/%s/\n' "$user" "$PF_DOMAIN" "$PF_DOMAIN" "$user"
    # Created up front so tests can watch new/ before the first delivery.
    mkdir -p "$SSP_POSTFIX_MAILDIR/$PF_DOMAIN/$user/"{new,cur,tmp}
  done >"$PF_ETC/vmailbox"
  chown -R "$PF_VUID:$PF_VGID" "$SSP_POSTFIX_MAILDIR"
  # Postfix's own refusals at the two DATA stages, for the fault tests: a sender refused at
  # DATA, and a subject refused after the final dot.
  printf 'refuse-at-data@client.example.net REJECT 5.7.1 Refused at DATA by the test Postfix\n' >"$PF_ETC/data_access"
  printf '/^Subject: .*refuse-after-dot/ REJECT 5.7.1 Refused after the final dot by the test Postfix\n' >"$PF_ETC/header_checks"
  touch "$SSP_POSTFIX_LOG"
  ln -sfn queue/pid/master.pid "$PF_DIR/postfix.pid"
}

# `postfix start` runs the checks of `postfix check` itself (and creates the
# queue subdirectories with the right owners), so no separate check here.
postfix_launch() {
  postfix_configure
  postfix -c "$PF_ETC" start >>"$SSP_POSTFIX_LOG" 2>&1 || { show_log "$SSP_POSTFIX_LOG"; die "postfix start failed"; }
}

postfix_stop() {
  local pid
  pid=$(postfix_pid) || return 0
  postfix -c "$PF_ETC" stop >>"$SSP_POSTFIX_LOG" 2>&1 || true
  wait_for 20 pid_gone "$pid" || kill_and_wait "$pid" "postfix master" 5
}

# Empties every virtual mailbox but keeps the Maildir skeleton.
postfix_mailbox_clear() {
  local box
  [[ -d $SSP_POSTFIX_MAILDIR ]] || return 0
  for box in "$SSP_POSTFIX_MAILDIR"/*/*/; do
    [[ -d $box/new ]] || continue
    find "$box/new" "$box/cur" -mindepth 1 -maxdepth 1 -type f -delete
  done
  say "mailboxes under $SSP_POSTFIX_MAILDIR emptied"
}
