# shellcheck shell=bash
# apt-get install of whatever is missing, then make sure the packaged system
# daemons it may have started (Postfix on :25, clamd, freshclam, spamd) are down.

# spamc and libnet-ssleay-perl (swaks -tls) would come as Recommends, but
# installing Recommends also drags in sa-compile and a C compiler.
# systemd: systemd-analyze verify checks packaging/smtp-scan-proxy.service (absent from container images).
# clamsmtp: only the bench runs it (its own instance beside the proxy); Debian's service would take
# 127.0.0.1:10026, the test sink's port, so it is one of the units stopped below.
SSP_PACKAGES=(postfix clamav-daemon spamd spamassassin spamc swaks libnet-ssleay-perl openssl rbldnsd redis-server dovecot-core haproxy rspamd systemd
  unbound libmail-dkim-perl python3-dkim python3-nacl python3-dnspython clamsmtp)
SYSTEM_UNITS=(postfix.service clamav-daemon.socket clamav-daemon.service clamav-freshclam.service spamd.service rbldnsd.socket rbldnsd.service redis-server.service dovecot.service haproxy.service rspamd.service unbound.service clamsmtp.service)

pkg_installed() {
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

have_systemd() { [[ -d /run/systemd/system ]]; }

system_unit_running() {
  local unit=$1 script="/etc/init.d/${1%.*}"
  if have_systemd; then
    systemctl is-active --quiet "$unit"
  elif [[ $unit == *.service && -x $script ]]; then
    "$script" status >/dev/null 2>&1
  else
    return 1
  fi
}

system_unit_stop() {
  local unit=$1 script="/etc/init.d/${1%.*}"
  say "install: stopping system $unit, which the package install started"
  if have_systemd; then
    systemctl stop "$unit" || warn "install: could not stop $unit"
  else
    "$script" stop || warn "install: could not stop $unit"
  fi
}

install_packages() {
  local pkg unit cmd missing=() was_running=()
  if [[ ${SSP_SKIP_INSTALL:-0} == 1 ]]; then say "install: skipped (SSP_SKIP_INSTALL=1)"; return 0; fi
  if ! command -v dpkg-query >/dev/null; then
    # Not Debian: nothing to install with, so just say what is missing.
    for cmd in postfix smtp-sink clamd spamd swaks openssl rbldnsd redis-server dovecot rspamd unbound; do
      command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    ((${#missing[@]} == 0)) || die "install: no dpkg/apt here; install these yourself: ${missing[*]}"
    say "install: no dpkg here, but all commands are present"
    return 0
  fi
  for pkg in "${SSP_PACKAGES[@]}"; do
    pkg_installed "$pkg" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    say "install: all packages present (${SSP_PACKAGES[*]})"
    return 0
  fi
  ((EUID == 0)) || die "install: need root to apt-get install ${missing[*]}"
  for unit in "${SYSTEM_UNITS[@]}"; do
    if system_unit_running "$unit"; then was_running+=("$unit"); fi
  done
  # A fresh Postfix with "No configuration" has no main.cf, so the system
  # instance cannot come up on :25 even where policy-rc.d allows start-up.
  if ! pkg_installed postfix; then
    say "install: preseeding postfix/main_mailer_type = No configuration"
    echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
  fi
  say "install: apt-get update; apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  for unit in "${SYSTEM_UNITS[@]}"; do
    if system_unit_running "$unit" && [[ " ${was_running[*]} " != *" $unit "* ]]; then
      system_unit_stop "$unit"
    fi
  done
  say "install: done"
}
