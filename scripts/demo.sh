#!/usr/bin/env bash
# Sets everything up, builds the built-in lab (a simulated client site in network namespaces
# on 198.18.0.0/15: no packet leaves namespaces it creates) and runs the main job against it:
# `keyturn onboard --rotate --yes` = discover -> topology -> firewall review -> AD audit -> web
# -> rotate -> checklist -> report;
# rotate covers the network devices, the directory's service accounts (kind ad, LDAPS) and
# the Windows hosts' RID-500 Administrators (kind windows_local, SMB/SAMR; the LAPS-managed
# one is skipped), each escrowed, changed and proven by a fresh login.
# Run it again to see a second run and its (clean) diff. `keyturn lab down` removes the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# The demo's own keyring: keyrings.cryptfile with a cheap KDF, in a folder of its own.
# A real client uses the OS keyring or, on a jump host, docs/operations.md's setup.
DEMO_HOME=/var/lib/keyturn-demo
mkdir -p -m 0700 "$DEMO_HOME"
export XDG_DATA_HOME="$DEMO_HOME/data"
export PYTHON_KEYRING_BACKEND=lab.keyring_backend.LabCryptFileKeyring
export KEYRING_CRYPTFILE_PASSWORD=keyturn-demo-only
export KEYTURN_OPERATOR="${KEYTURN_OPERATOR:-demo-technician}"
keyturn=$PWD/.venv/bin/keyturn

lab_id_file="$DEMO_HOME/lab-id"
if [ -s "$lab_id_file" ] && "$keyturn" lab status "$(cat "$lab_id_file")" 2>/dev/null | grep -q " up "; then
  lab_id=$(cat "$lab_id_file")
  echo "== reusing the demo lab $lab_id"
else
  [ -s "$lab_id_file" ] && "$keyturn" lab down "$(cat "$lab_id_file")" >/dev/null 2>&1 || true
  lab_id=kt$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  echo "== building the lab $lab_id (a simulated client site in network namespaces)"
  "$keyturn" lab up --id "$lab_id"
  echo "$lab_id" > "$lab_id_file"
fi

echo "== keyturn onboard --rotate --yes, run inside the lab's technician namespace"
status=0
"$keyturn" lab exec --lab "$lab_id" -- "$keyturn" onboard --rotate --yes || status=$?
echo
echo "Exit code $status (0 ok, 1 findings or partial failures). The lab stays up:"
echo "  $keyturn lab exec --lab $lab_id -- $keyturn report --format html   # another report"
echo "  $keyturn lab down $lab_id                                          # remove the lab"
[ "$status" -le 1 ]
