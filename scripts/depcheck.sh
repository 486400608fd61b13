#!/usr/bin/env bash
# Checks the one-way package dependencies of DESIGN.md: each package may
# import only the tillgate packages listed for it here. cmd/ and systemtest
# may import anything; nothing may import cmd/.
set -euo pipefail
mod=github.com/tillgate/tillgate
declare -A allow=(
  [wire]=""
  [store]="wire"
  [settle]="wire"
  [cluster]=""
  [acquirer]="wire"
  [acquirer/sim]="wire" # not settle: acqsim writes the acquirer's own format
  [failover]="wire"
  [node/adminapi]=""
  [node]="wire store cluster acquirer settle node/adminapi"
  [history]="wire"
  [check]="wire history node/adminapi"
  [loadtest]="failover wire node/adminapi history"
  [bench]="loadtest node/adminapi check history internal/faultnet"
  [simulation]="wire store node node/adminapi acquirer/sim failover history check internal/localcluster loadtest"
  [internal/regsim]="wire history"
  [internal/localcluster]="node store"
  [internal/fakenode]="wire" # test support: imported by tests only
  [internal/cli]=""
  [internal/netproxy]=""
  [internal/faultnet]=""
  [internal/pki]=""
)
bad=0
while read -r pkg imports; do
  rel=${pkg#"$mod"}; rel=${rel#/}
  case $rel in cmd/*|systemtest|systemtest/*) continue ;; esac
  if [[ -z ${allow[$rel]+set} ]]; then
    echo "depcheck: package $rel is not in scripts/depcheck.sh: add it with the imports DESIGN.md allows"; bad=1; continue
  fi
  for imp in $imports; do
    [[ $imp == "$mod"/* ]] || continue
    dep=${imp#"$mod"/}
    ok=0
    for a in ${allow[$rel]}; do [[ $dep == "$a" ]] && ok=1; done
    if [[ $ok == 0 ]]; then echo "depcheck: $rel must not import $dep"; bad=1; fi
  done
done < <(go list -f '{{.ImportPath}} {{join .Imports " "}}' ./...)
exit $bad
