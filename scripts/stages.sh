#!/usr/bin/env bash
# Run make targets one after another, print each one's wall time, stop at the first
# failure, and finish with a summary table.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
summary=()
for stage in "$@"; do
  printf '\n===== stage %s =====\n' "$stage"
  t0=$(date +%s)
  make --no-print-directory "$stage"
  rc=$?
  dt=$(( $(date +%s) - t0 ))
  summary+=("$(printf '%-12s %5ss  %s' "$stage" "$dt" "$([ $rc -eq 0 ] && echo ok || echo FAILED)")")
  printf '===== stage %s: %ss, %s =====\n' "$stage" "$dt" "$([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)")"
  [ $rc -eq 0 ] || break
done
printf '\n===== stage times =====\n'
printf '%s\n' "${summary[@]}"
printf '%-12s %5ss\n' total "$(( $(date +%s) - start ))"
[ ${rc:-1} -eq 0 ]
