#!/usr/bin/env bash
# Create .venv from Debian's python3 with the pinned tooling. --system-site-packages
# lets the venv see python3-nftables, which is not on PyPI. Re-installs only when
# requirements-dev.txt changed (stamp holds its hash).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
stamp=$venv/.requirements.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "venv: up to date"
  exit 0
fi
[ -x $venv/bin/python ] || /usr/bin/python3 -m venv --system-site-packages $venv
$venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
echo "$want" > "$stamp"
echo "venv: installed $(wc -l < requirements-dev.txt) requirement lines"
