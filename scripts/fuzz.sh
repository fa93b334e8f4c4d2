#!/usr/bin/env bash
# Runs every Go fuzz target of the module, one after another, each for the
# same duration, and stops at the first failure.
#
#   scripts/fuzz.sh [duration] [target-regexp]
#
# duration: a go test -fuzztime value (default 5m; "10000x" counts inputs).
# target-regexp: run only the targets whose name matches (grep -E), e.g. 'KvState'.
# FUZZ_FLAGS: more go test flags, e.g. FUZZ_FLAGS='-parallel 1'.
#
# A target is any `func FuzzXxx(` in a *_test.go file outside testdata/.
# A failing input is kept by go test under <pkg>/testdata/fuzz/<target>/;
# the script prints the tail of the log and the command that reproduces it.
# Each target's full log is under $FUZZ_LOG_DIR (default a temp directory).
set -euo pipefail
cd "$(dirname "$0")/.."

dur="${1:-5m}"
filter="${2:-.}"
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
logdir="${FUZZ_LOG_DIR:-$(mktemp -d -t qstate-fuzz.XXXXXX)}"
mkdir -p "$logdir"

# "dir<TAB>name" for every target, sorted.
targets=$(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(' . |
  grep -v '/testdata/' |
  sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]+)\($#\1\t\2#; s#^\./[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]+)\($#.\t\1#' |
  sort -u | awk -F'\t' -v f="$filter" '$2 ~ f')

if [ -z "$targets" ]; then
  echo "fuzz: no fuzz targets match '$filter'" >&2
  exit 1
fi

summary=()
print_summary() {
  echo
  echo "fuzz summary ($dur per target, logs in $logdir):"
  for line in "${summary[@]}"; do echo "  $line"; done
}

while IFS=$'\t' read -r dir name; do
  pkg="./$dir"
  [ "$dir" = "." ] && pkg="."
  log="$logdir/${dir//\//_}.$name.log"
  echo "fuzz: $name in $pkg for $dur"
  start=$SECONDS
  set +e
  # shellcheck disable=SC2086
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$dur" ${FUZZ_FLAGS:-} "$pkg" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -Eo 'execs: [0-9]+' "$log" | tail -1 | awk '{print $2}')
  interesting=$(grep -Eo 'new interesting: [0-9]+ \(total: [0-9]+\)' "$log" | tail -1 | sed -E 's/new interesting: ([0-9]+) \(total: ([0-9]+)\)/\1 new, corpus \2/')
  line=$(printf '%-4s %-36s %-12s %4ss  execs=%s  interesting=%s' \
    "$([ $rc -eq 0 ] && echo ok || echo FAIL)" "$name" "$pkg" "$((SECONDS - start))" "${execs:-?}" "${interesting:-?}")
  summary+=("$line")
  echo "$line"
  if [ $rc -ne 0 ]; then
    echo "----- last lines of $log -----"
    tail -40 "$log"
    echo "------------------------------"
    echo "reproduce: go test -run '^${name}\$' $pkg"
    print_summary
    exit 1
  fi
done <<<"$targets"

print_summary
