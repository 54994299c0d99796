#!/usr/bin/env bash
# Build the collection tarball, install it into a temporary path and render the docs of
# every module from that installed copy (not from this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/.tmp/galaxy
rm -rf "$out"
mkdir -p "$out/collections"
ansible-galaxy collection build --output-path "$out" --force >/dev/null
tarball=$(ls "$out"/hypervisor-networking-*.tar.gz)
echo "galaxy: built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"
if tar -tzf "$tarball" | grep -qE '^(molecule|\.venv|\.tmp|tests/output)/'; then
  echo "galaxy: build_ignore failed, the tarball holds test or build artefacts" >&2
  exit 1
fi
export ANSIBLE_COLLECTIONS_PATH=$out/collections
ansible-galaxy collection install -p "$out/collections" "$tarball" >/dev/null
installed=$out/collections/ansible_collections/hypervisor/networking
want=$(cd plugins/modules && ls -1 *.py | sed 's/\.py$//' | sort)
have=$(ansible-doc -t module -l hypervisor.networking -j \
       | python3 -c 'import json, sys; print("\n".join(sorted(k.split(".")[-1] for k in json.load(sys.stdin))))')
if [ "$want" != "$have" ]; then
  printf 'galaxy: modules in the checkout:\n%s\nmodules ansible-doc lists:\n%s\n' "$want" "$have" >&2
  exit 1
fi
for module in $have; do
  fqcn=hypervisor.networking.$module
  src=$(ansible-doc -j "$fqcn" | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]]["doc"]["filename"])' "$fqcn")
  case "$src" in
    "$installed"/*) ;;
    *) echo "galaxy: $fqcn documented from $src, not from the installed tarball" >&2; exit 1 ;;
  esac
  ansible-doc "$fqcn" > "$out/$module.txt"
  echo "galaxy: ansible-doc $fqcn renders ($(wc -l < "$out/$module.txt") lines, from the installed tarball)"
done

# Galaxy's own importer (the checks Galaxy and Automation Hub run on upload: metadata, docs,
# ansible-lint of the roles). Galaxy requires a `repository` address; galaxy.yml has none
# until the project has a public one, so the importer gets a copy of the tarball built with
# GALAXY_REPOSITORY (default: this checkout as a file:// URL). Any warning or error fails.
stage=$out/importer
mkdir -p "$stage/src"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$stage/src"
printf 'repository: %s\n' "${GALAXY_REPOSITORY:-file://$PWD}" >> "$stage/src/galaxy.yml"
(cd "$stage/src" && ansible-galaxy collection build --output-path "$stage" --force >/dev/null)
# a scratch HOME: molecule's prerun leaves an older copy of this collection in
# ~/.ansible/collections, which the importer's ansible-lint would resolve the roles from
mkdir -p "$stage/home"
(cd "$stage" && HOME=$stage/home python -m galaxy_importer.main "$(basename "$tarball")" > "$stage/import.log" 2>&1) || {
  cat "$stage/import.log" >&2; echo "galaxy: galaxy-importer failed" >&2; exit 1; }
if grep -E '^(WARNING|ERROR)' "$stage/import.log" >&2; then
  echo "galaxy: galaxy-importer reported the lines above ($stage/import.log)" >&2
  exit 1
fi
echo "galaxy: galaxy-importer $(python -c 'import importlib.metadata as m; print(m.version("galaxy-importer"))') imports the tarball with no warning"
