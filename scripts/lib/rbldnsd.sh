# shellcheck shell=bash
# rbldnsd: a DNS list server (UDP only) with the test zones of scripts/README.md, for the
# screening tests. The zone data is written at every launch, so it is always what the tests expect.

RBLDNSD_DIR="$SSP_RUN_DIR/rbldnsd"

rbldnsd_port()    { printf '%s\n' "$SSP_RBLDNSD_PORT"; }
rbldnsd_log()     { printf '%s\n' "$RBLDNSD_DIR/rbldnsd.log"; }
rbldnsd_timeout() { printf '10\n'; }
rbldnsd_pid()     { pid_of "$RBLDNSD_DIR/rbldnsd.pid" rbldnsd; }
# 127.0.0.20 is listed in block.test: asking for it proves the zones are loaded, not just the socket.
rbldnsd_ready()   { dns_a_answered "$SSP_RBLDNSD_PORT" '\00220\0010\0010\003127\005block\004test\000'; }

# Does a DNS server on 127.0.0.1:$1 answer an A query for the name $2 (wire format, as printf
# escapes) with NOERROR and at least one answer? bash's /dev/udp and od: no dig needed.
dns_a_answered() {
  local fd header
  { exec {fd}<>"/dev/udp/127.0.0.1/$1"; } 2>/dev/null || return 1
  # ID 0x5353, RD, one question; QTYPE A, QCLASS IN.
  # shellcheck disable=SC2059 # the name is printf escapes on purpose
  { printf "\123\123\001\000\000\001\000\000\000\000\000\000$2\000\001\000\001" >&"$fd"; } 2>/dev/null || { exec {fd}<&-; return 1; }
  header=$(timeout 1 head -c 8 <&"$fd" 2>/dev/null | od -An -tx1 | tr -d ' \n') || true
  exec {fd}<&-
  # 5353 (our ID), 8x8x/8x0x: a response, rcode 0; then QDCOUNT 1 and ANCOUNT > 0.
  [[ $header =~ ^53538[0-9a-f][0-9a-f]0 && ${header:12:4} != 0000 ]]
}

# $1: file name in $RBLDNSD_DIR; stdin: its entries, after a common header ($SOA so NXDOMAIN
# answers carry a negative TTL, as a real list's do).
rbldnsd_zone_file() {
  { printf '%s\n' "\$SOA 0 ns.test hostmaster.test 0 1h 1h 1d 60" "\$TTL 300"; cat; } >"$RBLDNSD_DIR/$1"
  chmod 644 "$RBLDNSD_DIR/$1"
}

rbldnsd_write_zones() {
  rbldnsd_zone_file block4 <<'EOF'
:127.0.0.2:Listed in block.test, see $
127.0.0.20
127.0.0.21
127.0.1.0/24
EOF
  rbldnsd_zone_file block6 <<'EOF'
:127.0.0.2:Listed in block.test, see $
::1
EOF
  rbldnsd_zone_file allow4 <<'EOF'
:127.0.0.2:Listed in allow.test
127.0.0.30
EOF
  # Spamhaus answers 127.255.255.254 to queries through a public resolver.
  rbldnsd_zone_file error4 <<'EOF'
:127.255.255.254:Query refused
127.0.0.40
EOF
  # One address listed twice: two A records in one answer.
  rbldnsd_zone_file multi4 <<'EOF'
127.0.0.50 :11:
127.0.0.50 :3:
EOF
}

rbldnsd_launch() {
  local user=rbldns
  # Debian's package makes the rbldns user; elsewhere nobody will do.
  id -u "$user" >/dev/null 2>&1 || user=nobody
  mkdir -p "$RBLDNSD_DIR"
  chmod 755 "$RBLDNSD_DIR"
  rbldnsd_write_zones
  # It refuses to run as root: -u switches before it reads the zones, so they and the
  # directory must be readable by that user.
  ((EUID != 0)) || check_reachable "$user" "$RBLDNSD_DIR"
  local as_user=()
  ((EUID != 0)) || as_user=(-u "$user")
  # -n: foreground, so spawn's pid is the daemon's. -4: the tests query 127.0.0.1 only.
  spawn "$RBLDNSD_DIR/rbldnsd.pid" "$(rbldnsd_log)" \
    rbldnsd -n -4 "${as_user[@]}" -w "$RBLDNSD_DIR" -b "127.0.0.1/$SSP_RBLDNSD_PORT" \
    block.test:ip4set:block4 block.test:ip6trie:block6 allow.test:ip4set:allow4 \
    error.test:ip4set:error4 multi.test:ip4set:multi4
}

rbldnsd_stop() {
  local pid
  pid=$(rbldnsd_pid) || return 0
  kill_and_wait "$pid" rbldnsd 10
}
