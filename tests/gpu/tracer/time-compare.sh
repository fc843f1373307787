#!/usr/bin/env bash
# time-compare.sh NATIVE.log OURS.log [N]: the VGPU_TRACE_TIME totals ("T"
# lines) of two traces of one program side by side, the N (default 25)
# names where ours spends the most time more than native first:
#   name  calls native/ours  total µs native/ours  mean ns native/ours  extra µs
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 NATIVE.log OURS.log [N]" >&2; exit 2; }
totals() { awk '$2 == "T" {sub("calls=", "", $4); sub("total_us=", "", $5); print $3, $4, $5}' "$1" | sort; }
join -a1 -a2 -e0 -o 0,1.2,2.2,1.3,2.3 <(totals "$1") <(totals "$2") |
    awk '{
        mn = $2 ? int($4 * 1000 / $2) : 0; mo = $3 ? int($5 * 1000 / $3) : 0
        printf "%d %-44s %9s %9s %11s %11s %9s %9s %10d\n", $5 - $4, $1, $2, $3, $4, $5, mn, mo, $5 - $4
    }' | sort -k1,1nr | cut -d' ' -f2- | head -n "${3:-25}" |
    { printf "%-44s %9s %9s %11s %11s %9s %9s %10s\n" name calls:nat calls:ours us:nat us:ours ns/call:n ns/call:o extra_us; cat; }
