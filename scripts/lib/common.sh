# shellcheck shell=bash disable=SC2034
# (SC2034: the settings here are used by the files that source this one.)
# Shared settings and helpers for scripts/services.sh. Sourced, never run.

# postfix, clamd, spamd and smtp-sink live in /usr/sbin, which a non-login PATH may lack.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac

SSP_REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
SSP_SCRIPTS="$SSP_REPO/scripts"

# Can every user traverse the directories down to $1? Read from the mode bits alone, so the
# answer is the same whoever asks (setpriv needs root) and before the daemons' users exist.
world_searchable() {
  local dir=$1 dirs=() mode
  while :; do
    dirs+=("$dir")
    [[ $dir == / ]] && break
    dir=$(dirname -- "$dir")
  done
  for mode in $(stat -c %a -- "${dirs[@]}" 2>/dev/null || echo 0); do
    ((8#$mode & 1)) || return 1
  done
}

# The run directory. The daemons drop privileges (postfix, nobody for spamd, clamav) and must
# traverse every parent of it, so a checkout they cannot reach (say under /root, mode 700)
# keeps it in /tmp instead, one per checkout; a reachable checkout keeps its .run as before.
# Not $TMPDIR: that is often private to the user (libpam-tmpdir's /tmp/user/0), or differs
# between two calls, and every call must find the same directory.
SSP_RUN_DIR_TMP=/tmp/smtp-scan-proxy-run-$(printf '%s' "$SSP_REPO" | sha256sum | cut -c1-12)
if [[ -z ${SSP_RUN_DIR:-} ]]; then
  if world_searchable "$SSP_REPO"; then SSP_RUN_DIR=$SSP_REPO/.run; else SSP_RUN_DIR=$SSP_RUN_DIR_TMP; fi
fi
: "${SSP_POSTFIX_PORT:=10025}"
: "${SSP_SINK_PORT:=10026}"
# The test Postfix's variant listeners (scripts/templates/postfix-master.cf).
: "${SSP_POSTFIX_OPEN_PORT:=10027}"
: "${SSP_POSTFIX_SHORT_TIMEOUT_PORT:=10028}"
: "${SSP_POSTFIX_IPV6_PORT:=10029}"
: "${SSP_POSTFIX_NO_CHUNKING_PORT:=10033}"
# Postfix's before-queue filter layout (SMTPD_PROXY_README): the first smtpd hands each transaction
# to a proxy the tests start on the filter port, which relays to the after-filter smtpd.
: "${SSP_POSTFIX_BEFORE_QUEUE_PORT:=10030}"
: "${SSP_PROXY_FILTER_PORT:=10031}"
: "${SSP_POSTFIX_AFTER_FILTER_PORT:=10032}"
: "${SSP_CLAMD_PORT:=13310}"
: "${SSP_SPAMD_PORT:=10783}"
: "${SSP_RBLDNSD_PORT:=10053}"
: "${SSP_REDIS_PORT:=10079}"
# Dovecot's SASL auth service, and the test Postfix's submission smtpd that asks it.
: "${SSP_DOVECOT_PORT:=10112}"
: "${SSP_POSTFIX_SUBMISSION_PORT:=10587}"
# unbound: the DKIM tests' DNS (their keys' TXT records).
: "${SSP_UNBOUND_PORT:=10054}"
# Rspamd's normal worker (/checkv2) and its controller.
: "${SSP_RSPAMD_PORT:=10333}"
: "${SSP_RSPAMD_CONTROLLER_PORT:=10334}"
: "${SSP_RSPAMD_WORKERS:=2}"
# HAProxy's SMTP frontend, and the two proxy instances behind it (started by the tests, not here).
: "${SSP_HAPROXY_PORT:=10045}"
: "${SSP_HAPROXY_BACKEND1_PORT:=10041}"
: "${SSP_HAPROXY_BACKEND2_PORT:=10042}"
: "${SSP_SPAMD_CHILDREN:=2}"
: "${SSP_SINK_MAX_CONN:=1024}"
: "${SSP_SINK_ARGS:=}"
# Debian's shipped rules: identical on every machine and need no sa-update run.
: "${SSP_SPAMD_RULES_DIR:=/usr/share/spamassassin}"

# Daemon configs (Postfix above all) cannot quote paths, so refuse anything exotic.
if [[ ! $SSP_RUN_DIR =~ ^/[A-Za-z0-9._/+-]+$ ]]; then
  echo "SSP_RUN_DIR must be an absolute path of [A-Za-z0-9._/+-] characters: '$SSP_RUN_DIR'" >&2
  exit 2
fi
SSP_RUN_DIR=${SSP_RUN_DIR%/}
for _v in SSP_POSTFIX_PORT SSP_POSTFIX_OPEN_PORT SSP_POSTFIX_SHORT_TIMEOUT_PORT SSP_POSTFIX_IPV6_PORT SSP_POSTFIX_NO_CHUNKING_PORT SSP_POSTFIX_BEFORE_QUEUE_PORT SSP_PROXY_FILTER_PORT SSP_POSTFIX_AFTER_FILTER_PORT SSP_SINK_PORT SSP_CLAMD_PORT SSP_SPAMD_PORT SSP_RBLDNSD_PORT SSP_REDIS_PORT SSP_DOVECOT_PORT SSP_POSTFIX_SUBMISSION_PORT SSP_UNBOUND_PORT SSP_RSPAMD_PORT SSP_RSPAMD_CONTROLLER_PORT SSP_RSPAMD_WORKERS SSP_SPAMD_CHILDREN SSP_SINK_MAX_CONN SSP_HAPROXY_PORT SSP_HAPROXY_BACKEND1_PORT SSP_HAPROXY_BACKEND2_PORT; do
  if [[ ! ${!_v} =~ ^[0-9]+$ ]]; then echo "$_v must be a number: '${!_v}'" >&2; exit 2; fi
done
unset _v

SSP_TLS_CERT="$SSP_RUN_DIR/tls/cert.pem"
SSP_TLS_KEY="$SSP_RUN_DIR/tls/key.pem"
SSP_CLAMD_SOCKET="$SSP_RUN_DIR/clamd/clamd.sock"
SSP_HAPROXY_SOCKET="$SSP_RUN_DIR/haproxy/haproxy.sock"
SSP_POSTFIX_MAILDIR="$SSP_RUN_DIR/postfix/mail"
SSP_POSTFIX_LOG="$SSP_RUN_DIR/postfix/postfix.log"

ALL_SERVICES=(postfix sink clamd spamd haproxy rbldnsd redis dovecot rspamd unbound)

say()  { printf '%s\n' "$*"; }
warn() { printf '%s\n' "$*" >&2; }
die()  { warn "error: $*"; exit 1; }

# Prints the tail of a log so a failed start explains itself in CI output.
show_log() {
  local log=$1
  warn "---- last lines of $log ----"
  if [[ -f $log ]]; then tail -n 40 -- "$log" >&2; else warn "(no log file)"; fi
  warn "----"
}

# pid from a pidfile if that process is alive and its command line mentions $2
# (a reused pid must never be mistaken for our daemon).
pid_of() {
  local pidfile=$1 expect=$2 pid
  [[ -r $pidfile ]] || return 1
  read -r pid <"$pidfile" || true
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$expect" || return 1
  printf '%s\n' "$pid"
}

# Starts a foreground daemon in its own session (so a Ctrl-C meant for the test
# run does not hit it) and records its pid. setsid does not fork here, because a
# background child of a non-interactive shell is no process-group leader, so $!
# is the daemon itself.
spawn() {
  local pidfile=$1 log=$2; shift 2
  setsid "$@" </dev/null >>"$log" 2>&1 &
  printf '%s\n' "$!" >"$pidfile"
}

# A zombie counts as gone: where PID 1 does not reap, killed daemons linger as zombies.
pid_gone() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  [[ ${stat%% *} == Z ]]
}

# TERM, wait up to $3 seconds, then KILL.
kill_and_wait() {
  local pid=$1 name=$2 limit=${3:-20}
  kill -TERM "$pid" 2>/dev/null || return 0
  wait_for "$limit" pid_gone "$pid" && return 0
  warn "$name (pid $pid) ignored TERM for ${limit}s; sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
}

# Opens 127.0.0.1:$1 as fd $fd (a variable of the caller); quiet when refused.
tcp_open() {
  { exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null
}

# Does anything accept connections on 127.0.0.1:$1?
port_open() {
  local fd
  tcp_open "$1" || return 1
  exec {fd}>&-
}

# First line of an SMTP greeting starts with 220.
smtp_banner_ok() {
  local fd line=
  tcp_open "$1" || return 1
  IFS= read -r -t 3 line <&"$fd" || true
  printf 'QUIT\r\n' 1>&"$fd" 2>/dev/null || true
  exec {fd}>&-
  [[ $line == 220* ]]
}

# Polls "$@" every 0.1 s for up to $1 seconds.
wait_for() {
  local limit=$1 i; shift
  for ((i = 0; i < limit * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# Replaces @NAME@ with the value of shell variable NAME for each NAME given.
render() {
  local src=$1 dst=$2 text var; shift 2
  text=$(<"$src")
  for var in "$@"; do
    text=${text//"@$var@"/"${!var}"}
  done
  if [[ $text =~ @[A-Z_]+@ ]]; then die "unrendered placeholder ${BASH_REMATCH[0]} in $src"; fi
  printf '%s\n' "$text" >"$dst.tmp"
  mv -f -- "$dst.tmp" "$dst"
}

# Daemons that drop privileges need every parent directory of the run dir to be
# searchable; /root is not, so say so plainly instead of failing obscurely later.
check_reachable() {
  local user=$1 path=$2
  if ! setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --clear-groups test -x "$path" 2>/dev/null; then
    die "user '$user' cannot reach $path; pick an SSP_RUN_DIR whose parent directories are world-searchable (e.g. under /tmp)"
  fi
}

# Makes the run directory. In a directory anyone may write to (/tmp) the name, predictable for
# the default one, may have been taken first by another local user: there it is made without
# -p and used only if it is a real directory (not a symlink) owned by us that no one else may
# write to. In a sticky /tmp nobody else can rename or replace it after that check.
ensure_run_dir() {
  local parent mode owner
  parent=$(dirname -- "$SSP_RUN_DIR")
  mode=$(stat -c %a -- "$parent" 2>/dev/null || echo 0)
  if ! ((8#$mode & 8#002)); then
    mkdir -p -- "$SSP_RUN_DIR"
    chmod 755 -- "$SSP_RUN_DIR"
    return 0
  fi
  mkdir -m 755 -- "$SSP_RUN_DIR" 2>/dev/null || true
  [[ ! -L $SSP_RUN_DIR ]] || die "$SSP_RUN_DIR is a symlink; remove it or set SSP_RUN_DIR"
  [[ -d $SSP_RUN_DIR ]] || die "$SSP_RUN_DIR is not a directory; remove it or set SSP_RUN_DIR"
  read -r owner mode < <(stat -c '%u %a' -- "$SSP_RUN_DIR")
  ((owner == EUID)) || die "$SSP_RUN_DIR is owned by uid $owner, not by us (uid $EUID); remove it or set SSP_RUN_DIR"
  ((!(8#$mode & 8#022))) || die "$SSP_RUN_DIR may be written by group or others (mode $mode); remove it or set SSP_RUN_DIR"
  # Ours, so this is safe; a directory from mktemp -d (mode 700) would keep the daemons out.
  chmod 755 -- "$SSP_RUN_DIR"
}

ensure_tls_cert() {
  [[ -s $SSP_TLS_CERT && -s $SSP_TLS_KEY ]] && return 0
  mkdir -p "$SSP_RUN_DIR/tls"
  say "tls: generating a self-signed certificate in $SSP_RUN_DIR/tls"
  (umask 077 && openssl req -x509 -newkey rsa:2048 -sha256 -days 3650 -nodes \
    -keyout "$SSP_TLS_KEY" -out "$SSP_TLS_CERT" -subj '/CN=mx.example.test' \
    -addext 'subjectAltName=DNS:mx.example.test,DNS:localhost,IP:127.0.0.1' 2>/dev/null) \
    || die "openssl could not create the test certificate"
  chmod 644 "$SSP_TLS_CERT"
}
