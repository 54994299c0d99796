#!/usr/bin/env bash
# Run ansible-test from a copy of this checkout at .../ansible_collections/hypervisor/networking
# (ansible-test requires that path and resolves symlinks, so the tree is copied; the copy
# lives outside this git checkout, else ansible-test asks git, which ignores it).
# HOME points into the same scratch directory, so ansible-test's venvs and caches stay there.
# Usage: scripts/ansible-test.sh sanity|units [ansible-test options...]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$repo/.venv
scratch=${HN_SCRATCH:-/var/tmp/hypervisor-networking}
dest=$scratch/ansible-test/ansible_collections/hypervisor/networking
export HOME=$scratch/home

# ansible-test --venv bootstraps pip with a get-pip script from a host this machine
# cannot reach. As ansible-test's own error message suggests, pre-seed its cache: a
# pip wheel plus a small bootstrap script that installs pip from that wheel.
cache=${HOME}/.ansible/test/cache
pip_version=24.2
shim=$cache/get_pip_${pip_version//./_}.py
if [ ! -f "$shim" ] || ! ls "$cache"/pip-"$pip_version"-*.whl >/dev/null 2>&1; then
  mkdir -p "$cache"
  "$venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$cache" "pip==$pip_version"
  cat > "$shim" <<PY
# ansible-test pip bootstrap written by hypervisor.networking's scripts/ansible-test.sh:
# installs pip $pip_version from the wheel beside this file instead of get-pip.py.
import glob, os, sys
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, glob.glob(os.path.join(here, 'pip-$pip_version-*.whl'))[0])
from pip._internal.cli.main import main
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
sys.exit(main(['install', '--upgrade', '--force-reinstall', '--find-links', here] + args))
PY
fi

mkdir -p "$dest"
rsync -a --delete \
  --exclude /.venv --exclude /.tmp --exclude /.git --exclude /tests/output \
  --exclude /.ansible --exclude __pycache__ --exclude .pytest_cache \
  "$repo/" "$dest/"
cd "$dest"
export PATH=$venv/bin:$PATH
exec ansible-test "$@" --venv --python 3.11 --color no
