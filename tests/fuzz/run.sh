#!/usr/bin/env bash
# run.sh -- runs the fuzz targets of a build for a bounded time each.
#
#   tests/fuzz/run.sh DIR [SECONDS [LIBFUZZER-ARGS...]]
#
# DIR is a build tree configured with -DAA_FUZZ=ON and built (this script
# builds nothing); each target runs SECONDS (default 60) on its seed corpus
# (DIR/tests/fuzz/corpus/TARGET, made by the build) and on what earlier
# runs found (DIR/tests/fuzz/found/TARGET, where new inputs go).  Findings
# land in DIR/tests/fuzz/artifacts/, logs in DIR/tests/fuzz/logs/.
#
# A crash, a sanitizer report or a broken promise fails the run.  So does a
# timeout in the library: an input still running after 10 s with
# libautoawait's frames innermost (a deadlock, say).  A timeout in Python's
# own code (10**10**8, a regex that backtracks for ever, a loop that
# swallows every KeyboardInterrupt: the watchdog's interrupts cannot end
# those) and running out of memory are Python's: they are listed, the input
# leaves found/, and the target goes on fuzzing for the rest of its time.
# The exit status is 0 when nothing failed; each target's executions are
# printed.
#
#   FUZZ_TARGETS="execn magic"   runs only those targets (default: all, wire
#                                only when DIR built it: it needs the kernel)
#   FUZZ_STRICT=1                fails on every timeout and out-of-memory
#   LIBFUZZER-ARGS               go to every target, after the defaults
#                                (e.g. -seed=N, -only_ascii=1)
set -euo pipefail

usage() {
    sed -n '2,26s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
}
(($# >= 1)) || usage
dir=$1
seconds=${2:-60}
shift $(($# >= 2 ? 2 : 1))
[[ $seconds =~ ^[0-9]+$ ]] || usage
fuzz=$(cd "$dir" && pwd)/tests/fuzz
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
all="execn complete magic host"
[[ -x $fuzz/fuzz_wire ]] && all="$all wire"
targets=${FUZZ_TARGETS:-$all}
strict=${FUZZ_STRICT:-0}

# CPython keeps its memory until exit: leak reports would be noise.  A cell
# asking for more than 2 GiB at once gets a MemoryError instead of a crash
# report; everything else ASan or UBSan finds is one.  PYTHONMALLOC=malloc
# gives CPython's objects to ASan's allocator, so that the library reading
# or writing past one is caught too.  The caller's own options come last,
# so they win.
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:\
max_allocation_size_mb=2048:handle_abort=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1\
${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export PYTHONMALLOC=${PYTHONMALLOC:-malloc}

# classify LOG: crash, library-timeout, python-timeout or python-oom.  A
# timeout is the library's when the main thread's frames, from the
# innermost up to the first Python frame (what the cell was doing in C when
# time ran out), include libautoawait's, or when no Python frame runs.
classify() {
    if grep -q 'ERROR: libFuzzer: out-of-memory' "$1"; then
        echo python-oom
    elif grep -q 'ERROR: libFuzzer: timeout' "$1"; then
        awk '
            /ERROR: libFuzzer: timeout/ { on = 1; next }
            !on || !/^ *#[0-9]+ / { next }
            /__sanitizer_|fuzzer::|libc\.so\.6\+/ && !seen { next }
            { seen = 1 }
            /_PyEval_EvalFrameDefault|PyEval_EvalCode/ { python = 1; exit }
            /\/libautoawait\/|\/runners\/|\/bindings\/| in aa_/ { lib = 1 }
            END { print (python && !lib) ? "python-timeout" : "library-timeout" }
        ' "$1"
    else
        echo crash
    fi
}

failed=()
for target in $targets; do
    bin=$fuzz/fuzz_$target
    if [[ ! -x $bin || ! -d $fuzz/corpus/$target ]]; then
        echo "error: $bin or its corpus is missing: configure $dir with" \
            "-DAA_FUZZ=ON and build it" >&2
        exit 2
    fi
    # aa_execn takes cells of any length; the console calls take lines.
    max_len=4096
    [[ $target == execn ]] && max_len=65536
    dict=$here/python.dict
    [[ $target == magic ]] && dict=$here/magic.dict
    [[ $target == host ]] && dict=$here/host.dict
    [[ $target == wire ]] && dict=$here/wire.dict
    # fuzz_wire runs no Python: every leak there is the wire layer's.
    leaks=0
    [[ $target == wire ]] && leaks=1
    found=$fuzz/found/$target
    mkdir -p "$found" "$fuzz/artifacts" "$fuzz/logs"
    rm -f "$fuzz/logs/$target".*.log
    echo "== fuzz_$target: ${seconds}s"
    start=$SECONDS end=$((SECONDS + seconds)) runs=0 units=0 noted=() status=ok
    while ((SECONDS < end)); do
        runs=$((runs + 1))
        log=$fuzz/logs/$target.$runs.log
        rc=0
        ASAN_OPTIONS=${ASAN_OPTIONS/detect_leaks=0/detect_leaks=$leaks} \
            "$bin" -max_total_time=$((end - SECONDS)) -max_len="$max_len" \
            -timeout=10 -rss_limit_mb=4096 -detect_leaks=$leaks \
            -print_final_stats=1 -dict="$dict" \
            -artifact_prefix="$fuzz/artifacts/$target-" "$@" \
            "$found" "$fuzz/corpus/$target" </dev/null >"$log" 2>&1 || rc=$?
        n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        units=$((units + ${n:-0}))
        ((rc != 0)) || break
        kind=$(classify "$log")
        input=$(sed -n "s/.*Test unit written to //p" "$log" | tail -n 1)
        # An input that hung once is not run again: out of found/ with it.
        # A seed that hangs is a failure: every restart would hang on it.
        sha=${input##*-}
        if [[ -n $input && -f $found/$sha ]]; then
            rm -f "$found/$sha"
        elif [[ -n $input && -f $fuzz/corpus/$target/$sha ]]; then
            kind="$kind on a seed"
        fi
        if [[ $kind == python-timeout || $kind == python-oom ]] && ((!strict)) &&
            [[ $target != wire ]]; then
            noted+=("$kind ${input:-?} (log: $log)")
            continue
        fi
        tail -n 80 "$log"
        echo "error: fuzz_$target: $kind (exit $rc); input: ${input:-?};" \
            "log: $log" >&2
        status=failed
        break
    done
    took=$((SECONDS - start))
    echo "fuzz_$target: $units executions in ${took}s" \
        "($((units / (took > 0 ? took : 1)))/s), $runs run(s)," \
        "${#noted[@]} noted, $status"
    for note in "${noted[@]}"; do
        echo "  noted: $note"
    done
    [[ $status == ok ]] || failed+=("$target")
done
if ((${#failed[@]})); then
    echo "error: failed: ${failed[*]}" >&2
    exit 1
fi
echo "== all fuzz targets ran ${seconds}s without a finding"
