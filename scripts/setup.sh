#!/usr/bin/env bash
# Sets keyturn up on Debian 12 as root: the system packages it and its lab need, a virtual
# environment in .venv, and keyturn installed into it (with the lab and test extras).
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-venv python3-pip
  nmap arp-scan tcpdump iproute2 iputils-ping procps
  openssh-server openssh-client sshpass
  snmpd snmp
  bind9 bind9-utils bind9-dnsutils
  samba samba-dsdb-modules samba-ad-provision samba-vfs-modules winbind ldb-tools
  libkrb5-dev gcc
  clang libbpf-dev curl
  chromium systemd
  graphviz
  nftables sudo
  postgresql
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (the lab builds network namespaces; discovery sends raw packets)" >&2
  exit 2
fi

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps apt from starting sshd/snmpd/samba on the real interfaces.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.keyturn-installed
extras=lab,test,kerberos,msp
# Every version comes from constraints.txt (scripts/lock.sh regenerates it), so setup and CI
# install the same versions every day; pyproject.toml keeps the ranges keyturn supports.
# PIP_CONSTRAINT also reaches the isolated build environment (setuptools).
constraints="$PWD/constraints.txt"
# The stamp covers the extras and the constraints too, so changing either reinstalls.
wanted=$( (cat pyproject.toml constraints.txt; echo "$extras") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "setup: installing keyturn into .venv (log: .venv/pip.log)"
  # kerberos: gssapi builds against libkrb5-dev; the AD tests bind with a Samba ticket.
  if ! { .venv/bin/pip install -c "$constraints" pip \
      && PIP_CONSTRAINT="$constraints" .venv/bin/pip install -e ".[$extras]"; } \
      > .venv/pip.log 2>&1; then
    tail -n 30 .venv/pip.log >&2
    echo "setup: pip install failed (full log: .venv/pip.log)" >&2
    exit 3
  fi
  echo "$wanted" > "$stamp"
fi

# Bytecode for keyturn's own packages (pip compiled its dependencies' already): where
# PYTHONDONTWRITEBYTECODE is set, as on CI machines, every keyturn process otherwise compiled
# ~80 of its modules from source, ~0.2 s of each start (a /24 sweep is ~1 s). Stale files
# are recompiled; a source newer than its .pyc is always read instead.
.venv/bin/python -m compileall -q agent inventory rotation reports lab > /dev/null

# The lab's Samba DC snapshots (/var/cache/keyturn-lab, rebuilt weekly): without them the
# first `keyturn lab up` provisions and populates a DC itself (a minute or more). Best effort:
# a failure here only means that first lab up builds them.
if ! .venv/bin/python -m lab.samba_warm > .venv/samba-warm.log 2>&1; then
  echo "setup: warning: Samba DC snapshot not pre-built (.venv/samba-warm.log);" \
    "the first lab up builds it" >&2
fi
