#!/bin/sh
# run-cudart DIR BUILD...: runs each cudart test program DIR/BUILD (for at
# most $CUDART_TIMEOUT_S seconds) and turns its output into result lines
# for the runner: `CASE` lines become `@@RESULT cudart-BUILD/...`, `DIGEST`
# lines `@@DIGEST cudart-BUILD/...`, other output `cudart-BUILD| ...`, and
# its exit status `@@RESULT cudart-BUILD/exit`.
dir=$1; shift
for build in "$@"; do
timeout "$CUDART_TIMEOUT_S" "$dir/$build" >/tmp/cudart.out 2>&1; rc=$?
sed -n -e "s#^CASE #@@RESULT cudart-$build/#p" -e "s#^DIGEST #@@DIGEST cudart-$build/#p" /tmp/cudart.out
grep -v -e '^CASE ' -e '^DIGEST ' /tmp/cudart.out | sed -e "s#^#cudart-$build| #"
if [ $rc = 0 ]; then echo "@@RESULT cudart-$build/exit PASS 0ms exited 0"; else echo "@@RESULT cudart-$build/exit FAIL 0ms exit status $rc"; fi
done
