#!/usr/bin/env bash
# Checks the one-way package dependencies: each package may import only the
# tillgate packages its row of the table in ARCHITECTURE.md lists (between
# <!-- depcheck:begin --> and <!-- depcheck:end -->; "—" for none). cmd/
# and systemtest may import anything; nothing may import cmd/.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=github.com/tillgate/tillgate
declare -A allow=()
while IFS='|' read -r _ pkg _ imports _; do
  pkg=$(tr -d '` ' <<<"$pkg")
  [[ -n $pkg && $pkg != package && $pkg != ---* ]] || continue
  allow[$pkg]=$(tr -d '`—' <<<"$imports" | tr ',' ' ')
done < <(sed -n '/<!-- depcheck:begin -->/,/<!-- depcheck:end -->/p' ARCHITECTURE.md | grep '^|')
if [[ ${#allow[@]} == 0 ]]; then
  echo "depcheck: no table between the depcheck markers in ARCHITECTURE.md"; exit 1
fi
bad=0
while read -r pkg imports; do
  rel=${pkg#"$mod"}; rel=${rel#/}
  case $rel in cmd/*|systemtest|systemtest/*) continue ;; esac
  if [[ -z ${allow[$rel]+set} ]]; then
    echo "depcheck: package $rel is not in the table of ARCHITECTURE.md: add its row (job, the imports it may have)"; bad=1; continue
  fi
  for imp in $imports; do
    [[ $imp == "$mod"/* ]] || continue
    dep=${imp#"$mod"/}
    ok=0
    for a in ${allow[$rel]}; do [[ $dep == "$a" ]] && ok=1; done
    if [[ $ok == 0 ]]; then echo "depcheck: $rel must not import $dep (ARCHITECTURE.md)"; bad=1; fi
  done
done < <(go list -f '{{.ImportPath}} {{join .Imports " "}}' ./...)
exit $bad
