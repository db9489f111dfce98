# shellcheck shell=bash
# `services.sh selftest`: exercises each running service the way the tests will.
# Talks the clamd and spamd protocols itself so it needs neither clamdscan nor spamc.

ST_FAILS=0

pass() { printf 'PASS  %s\n' "$1"; }
fail() { printf 'FAIL  %s\n' "$1"; [[ -n ${2:-} ]] && printf '      %s\n' "$2"; ST_FAILS=$((ST_FAILS + 1)); }

# swaks against the test Postfix; prints the whole transcript.
st_swaks() { swaks --server "127.0.0.1:$1" --from x@sender.test --helo selftest.test "${@:2}" 2>&1 || true; }

# Waits for a message holding $2 to arrive in mailbox $1.
st_delivered() {
  local box="$SSP_POSTFIX_MAILDIR/example.test/$1/new" token=$2 i
  for ((i = 0; i < 100; i++)); do
    grep -rqlF -- "$token" "$box" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

st_postfix() {
  local out token
  token="selftest-$$-$RANDOM"
  out=$(st_swaks "$SSP_POSTFIX_PORT" --to alice@example.test --header "X-SSP-Selftest: $token")
  if [[ $out == *'<-  250 2.0.0 Ok: queued'* ]] && st_delivered alice "$token"; then
    pass "postfix: alice@example.test delivered to Maildir"
  else fail "postfix: delivery to alice" "$(tail -n 5 <<<"$out")"; fi

  out=$(st_swaks "$SSP_POSTFIX_PORT" --to nobody@example.test)
  if [[ $out == *'<** 550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown in virtual mailbox table'* ]]; then
    pass "postfix: unknown user -> 550 5.1.1"
  else fail "postfix: unknown user" "$(grep -F '<**' <<<"$out")"; fi

  out=$(st_swaks "$SSP_POSTFIX_PORT" --to bob@elsewhere.test)
  if [[ $out == *'<** 554 5.7.1 <bob@elsewhere.test>: Relay access denied'* ]]; then
    pass "postfix: other domain -> 554 5.7.1 relay denied"
  else fail "postfix: relay denied" "$(grep -F '<**' <<<"$out")"; fi

  token="selftest-xclient-$$-$RANDOM"
  out=$(st_swaks "$SSP_POSTFIX_PORT" --to bob@example.test --xclient-addr 192.0.2.7 \
    --xclient-name client.example.net --header "X-SSP-Selftest: $token")
  if [[ $out == *'<-  220 mx.example.test'*'<-  250 2.0.0 Ok: queued'* ]] && st_delivered bob "$token" \
    && grep -rqF '(client.example.net [192.0.2.7])' "$SSP_POSTFIX_MAILDIR/example.test/bob/new"; then
    pass "postfix: XCLIENT from 127.0.0.1 accepted (Received shows 192.0.2.7)"
  else fail "postfix: XCLIENT" "$(grep -E '^(<-|<\*\*|\*\*\*)' <<<"$out" | tail -n 6)"; fi

  token="selftest-tls-$$-$RANDOM"
  out=$(st_swaks "$SSP_POSTFIX_PORT" --to carol@example.test -tls --header "X-SSP-Selftest: $token")
  if [[ $out == *'=== TLS started'* && $out == *'250 2.0.0 Ok: queued'* ]] && st_delivered carol "$token"; then
    pass "postfix: STARTTLS delivery to carol"
  else fail "postfix: STARTTLS" "$(grep -E '^(===|<\*\*|\*\*\*)' <<<"$out" | tail -n 6)"; fi

  out=$(st_swaks "$SSP_POSTFIX_PORT" --to postmaster@example.test --quit-after EHLO)
  if [[ $out == *'250-SMTPUTF8'* && $out == *'250-SIZE 104857600'* && $out == *'250-XCLIENT'* ]]; then
    pass "postfix: EHLO offers SIZE 104857600, SMTPUTF8, XCLIENT"
  else fail "postfix: EHLO keywords" "$(grep -F '<-' <<<"$out")"; fi
}

# The submission smtpd: AUTH through Dovecot under TLS only, and mail only after a login.
st_submission() {
  local out token
  token="selftest-auth-$$-$RANDOM"
  out=$(st_swaks "$SSP_POSTFIX_SUBMISSION_PORT" --to alice@example.test -tls --auth PLAIN \
    --auth-user alice@example.test --auth-password alice-password --header "X-SSP-Selftest: $token")
  if [[ $out == *'<~  235 2.7.0 Authentication successful'* ]] && st_delivered alice "$token"; then
    pass "postfix submission: AUTH through dovecot, delivered"
  else fail "postfix submission: AUTH" "$(grep -E '^(<~\*|<\*\*|\*\*\*)' <<<"$out" | tail -n 4)"; fi

  out=$(st_swaks "$SSP_POSTFIX_SUBMISSION_PORT" --to alice@example.test -tls --auth PLAIN \
    --auth-user alice@example.test --auth-password wrong)
  if [[ $out == *'<~* 535 5.7.8 Error: authentication failed'* ]]; then
    pass "postfix submission: wrong password -> 535 5.7.8"
  else fail "postfix submission: wrong password" "$(grep -E '^(<~\*|<\*\*)' <<<"$out" | tail -n 4)"; fi
}

st_sink() {
  local out
  out=$(st_swaks "$SSP_SINK_PORT" --to anyone@anywhere.test)
  if [[ $out == *' -> .'*'<-  250 '* ]]; then pass "sink: accepts a message"
  else fail "sink: accepts a message" "$(tail -n 5 <<<"$out")"; fi
}

# zINSTREAM of file $1 over TCP; prints clamd's reply.
clamd_instream() {
  local file=$1 fd size reply=
  size=$(stat -c %s -- "$file")
  exec {fd}<>"/dev/tcp/127.0.0.1/$SSP_CLAMD_PORT"
  printf 'zINSTREAM\0' >&"$fd"
  # One chunk: 4-byte big-endian length, the data, then a zero-length chunk.
  printf '%b' "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((size >> 24 & 255)) $((size >> 16 & 255)) $((size >> 8 & 255)) $((size & 255)))" >&"$fd"
  cat -- "$file" >&"$fd"
  printf '\0\0\0\0' >&"$fd"
  IFS= read -r -d '' -t 10 reply <&"$fd" || true
  exec {fd}>&-
  printf '%s\n' "$reply"
}

st_clamd() {
  local dir="$SSP_RUN_DIR/selftest" name reply want="stream: $EICAR_NAME.UNOFFICIAL FOUND"
  rm -rf -- "$dir"; mkdir -p "$dir"
  eicar_bytes >"$dir/eicar.com"
  perl -MIO::Compress::Zip=zip,\$ZipError -e \
    'zip($ARGV[0] => $ARGV[1], Name => "eicar.com") or die $ZipError' "$dir/eicar.com" "$dir/eicar.zip"
  {
    printf 'From: x@sender.test\r\nTo: alice@example.test\r\nSubject: attachment\r\n'
    printf 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    printf -- '--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n'
    printf -- '--b1\r\nContent-Type: application/octet-stream\r\n'
    printf 'Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="e.com"\r\n\r\n'
    base64 <"$dir/eicar.com" | sed 's/$/\r/'
    printf -- '--b1--\r\n'
  } >"$dir/eicar.eml"
  printf 'From: x@sender.test\r\nSubject: clean\r\n\r\nnothing to see\r\n' >"$dir/clean.eml"

  if perl -MIO::Socket::UNIX -e '$s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or exit 1;
      print $s "zPING\0"; local $/ = "\0"; exit(<$s> eq "PONG\0" ? 0 : 1)' "$SSP_CLAMD_SOCKET"; then
    pass "clamd: PONG on unix socket $SSP_CLAMD_SOCKET"
  else fail "clamd: PONG on unix socket"; fi
  for name in eicar.com eicar.zip eicar.eml; do
    reply=$(clamd_instream "$dir/$name")
    if [[ $reply == "$want" ]]; then pass "clamd: INSTREAM $name -> $reply"
    else fail "clamd: INSTREAM $name" "got '$reply'"; fi
  done
  reply=$(clamd_instream "$dir/clean.eml")
  if [[ $reply == 'stream: OK' ]]; then pass "clamd: INSTREAM clean.eml -> OK"
  else fail "clamd: INSTREAM clean.eml" "got '$reply'"; fi
  rm -rf -- "$dir"
}

# CHECK of message $1 (a string); prints the "Spam:" header of the reply.
# spamd reads the body line by line: a last line without its newline makes it
# wait for EOF (or its 30 s timeout) even when Content-length is reached.
spamd_check() {
  local msg=$1$'\n' fd line out=
  exec {fd}<>"/dev/tcp/127.0.0.1/$SSP_SPAMD_PORT"
  printf 'CHECK SPAMC/1.5\r\nContent-length: %d\r\n\r\n%s' "$(printf '%s' "$msg" | wc -c)" "$msg" >&"$fd"
  while IFS= read -r -t 30 line <&"$fd"; do
    [[ $line == Spam:* ]] && out=${line%$'\r'}
  done
  exec {fd}>&-
  printf '%s\n' "$out"
}

st_spamd() {
  local date reply score
  date=$(LC_ALL=C date -R)
  reply=$(spamd_check "$(printf 'From: x@sender.test\nTo: alice@example.test\nSubject: gtube\nDate: %s\nMessage-ID: <gtube@sender.test>\n\n%s\n' \
    "$date" 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X')")
  score=$(sed -n 's/^Spam: [A-Za-z]* ; \(-\{0,1\}[0-9.]*\) .*/\1/p' <<<"$reply")
  if [[ $reply == 'Spam: True ; '* && ${score%.*} -ge 1000 ]]; then pass "spamd: GTUBE -> $reply"
  else fail "spamd: GTUBE" "got '$reply'"; fi

  reply=$(spamd_check "$(printf 'From: Alice <alice@example.test>\nTo: Bob <bob@example.test>\nSubject: lunch tomorrow\nDate: %s\nMessage-ID: <ham-%s@example.test>\n\n%s\n' \
    "$date" "$$" 'Shall we meet at noon at the usual place? I will bring the notes from the meeting.')")
  score=$(sed -n 's/^Spam: [A-Za-z]* ; \(-\{0,1\}[0-9.]*\) .*/\1/p' <<<"$reply")
  if [[ $reply == 'Spam: False ; '* && ${score%.*} -lt 5 ]]; then pass "spamd: plain ham -> $reply"
  else fail "spamd: plain ham" "got '$reply'"; fi
}

selftest() {
  local s
  for s in "${ALL_SERVICES[@]}"; do
    "${s}_pid" >/dev/null || die "selftest: $s is not running; run scripts/services.sh start first"
  done
  st_postfix
  st_submission
  st_sink
  st_clamd
  st_spamd
  if ((ST_FAILS)); then warn "selftest: $ST_FAILS check(s) failed"; return 1; fi
  say "selftest: all checks passed"
}
