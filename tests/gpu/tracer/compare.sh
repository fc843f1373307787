#!/usr/bin/env bash
# Compares two traces of the same program (README.md): the answers to
# cuGetProcAddress (symbol, cudaVersion, flags -> result, status, export)
# and cuGetExportTable (table id -> result, size), ignoring order, repeats
# and thread ids. Prints what only A has ("- ") and what only B has ("+ ").
#   compare.sh [-v] A.log B.log
# -v also prints, for information only, the differences in which functions
# were called with which results, which export-table slots were called,
# and which real exports the tracer lacked (X lines).
# Exit 0 when the P and E answers agree, 1 when they differ, 2 on misuse.
set -euo pipefail
verbose=0
if [ "${1:-}" = -v ]; then verbose=1; shift; fi
if [ $# -ne 2 ] || [ ! -f "$1" ] || [ ! -f "$2" ]; then echo "usage: $0 [-v] A.log B.log" >&2; exit 2; fi

# One line per distinct answer: "P <symbol> <version> <flags> => <result> <status> <export>",
# "E <id> => <result> <size>".
answers() {
    awk '$2 == "P" && $6 == "->" { print "P", $3, $4, $5, "=>", $7, $8, $9 }
         $2 == "E" && $4 == "->" { print "E", $3, "=>", $5, $6 }' "$1" | LC_ALL=C sort -u
}
calls() { awk '$2 == "C" { r = "?"; for (i = 4; i < NF; i++) if ($i == "->") r = $(i + 1); print "C", $3, "->", r }' "$1" | LC_ALL=C sort -u; }
slots() { awk '$2 == "S" || $2 == "X" { print $2, $3, $4 }' "$1" | LC_ALL=C sort -u; }

# Prints the lines of the two sorted sets that differ, sorted by key.
differ() {
    LC_ALL=C comm -3 "$1" "$2" | sed -e 's/^\t/+ /' -e 't' -e 's/^/- /' | LC_ALL=C sort -k2,2 -k3,3 -k4,4n -k5,5n -s
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
answers "$1" >"$tmp/a"
answers "$2" >"$tmp/b"
differ "$tmp/a" "$tmp/b" >"$tmp/d"
np=$(grep -c '^P' "$tmp/a" || true)
ne=$(grep -c '^E' "$tmp/a" || true)
echo "A: $1 ($np P answers, $ne E answers)"
echo "B: $2 ($(grep -c '^P' "$tmp/b" || true) P answers, $(grep -c '^E' "$tmp/b" || true) E answers)"
status=0
if [ -s "$tmp/d" ]; then
    echo "cuGetProcAddress / cuGetExportTable answers that differ:"
    cat "$tmp/d"
    status=1
else
    echo "cuGetProcAddress and cuGetExportTable answers agree"
fi
if [ $verbose = 1 ]; then
    calls "$1" >"$tmp/ca"
    calls "$2" >"$tmp/cb"
    echo "calls (name -> result) that differ (information):"
    differ "$tmp/ca" "$tmp/cb"
    slots "$1" >"$tmp/sa"
    slots "$2" >"$tmp/sb"
    echo "export-table slots called and real exports untraced that differ (information):"
    differ "$tmp/sa" "$tmp/sb"
fi
exit $status
