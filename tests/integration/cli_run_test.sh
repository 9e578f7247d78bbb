#!/usr/bin/env bash
# Integration test: `mesh run` on the example jobs, as a user would run it: output bytes, the
# report (human and --json), one exit status per outcome, and clear one-line errors.
# Usage: cli_run_test.sh PATH_TO_MESH EXAMPLES_DIR
set -u
MESH="$1"
EX="$2"
source "$(dirname "$0")/test_lib.sh"
export MESH_DATA_DIR="$WORK/data"
unset MESH_WORKER

# Results.
expect_exit "hello runs" 0 "$MESH" run "$EX/hello.wasm"
check "hello prints its line" test "$(cat "$WORK/out")" == "hello, mesh"
check "report says ok" grep -q '^outcome: *ok$' "$WORK/err"
check "report names the engine" grep -Eq '^engine: *(aot|interp)$' "$WORK/err"
check "report has fuel" grep -Eq '^fuel: *[0-9]+ used of 10000000000$' "$WORK/err"
check "report names the output CID" \
  grep -q "^output: *12 bytes, $(printf 'hello, mesh\n' | "$MESH" cid -)$" "$WORK/err"

head -c 200000 /dev/urandom >"$WORK/random"
expect_exit "echo --input FILE" 0 "$MESH" run "$EX/echo.wasm" --input "$WORK/random"
check "echo returns the bytes exactly" cmp -s "$WORK/random" "$WORK/out"
"$MESH" run "$EX/echo.wasm" --input - <"$WORK/random" >"$WORK/out" 2>/dev/null
check "echo --input - reads stdin" cmp -s "$WORK/random" "$WORK/out"
expect_exit "no --input means empty stdin" 0 "$MESH" run "$EX/wordcount.wasm"
check "empty stdin counted" test "$(cat "$WORK/out")" == "0 0 0"
printf 'one two\nthree\n' >"$WORK/words"
check "wordcount" test "$("$MESH" run "$EX/wordcount.wasm" --input "$WORK/words" 2>/dev/null)" \
  == "2 3 14"
check "sha256 agrees with sha256sum" test \
  "$("$MESH" run "$EX/sha256.wasm" --input "$WORK/random" 2>/dev/null)" \
  == "$(sha256sum <"$WORK/random" | cut -d' ' -f1)"
check "args after --" test "$("$MESH" run "$EX/primes.wasm" -- 100 2>/dev/null)" \
  == "primes<=100: 25 last=97"
expect_exit "flags after -- belong to the job" 10 "$MESH" run "$EX/primes.wasm" -- --json
check "the job got --json as its argument" grep -q 'primes: LIMIT must be' "$WORK/err"

# Environment: only what --env gives.
"$MESH" run --env ONLY=this --env "TWO=a b" "$EX/probe.wasm" -- arg >"$WORK/out" 2>/dev/null
check "probe sees --env" grep -q '^probe env: ONLY=this$' "$WORK/out"
check "probe sees values with spaces" grep -q '^probe env: TWO=a b$' "$WORK/out"
check "probe sees nothing else" grep -q '^probe env count: 2$' "$WORK/out"
check "probe has no HOME" grep -q '^probe getenv HOME: (unset)$' "$WORK/out"
check "probe cannot open files" bash -c "! grep -q 'opened' '$WORK/out'"

# JSON report.
"$MESH" run --json "$EX/progress.wasm" -- 1000 >"$WORK/out" 2>"$WORK/json"
check "--json is one line" test "$(wc -l <"$WORK/json")" -eq 1
for field in '"outcome":"ok"' '"exit_status":0' '"engine":"' '"module_cid":"bafk' \
             '"output_cid":"bafk' '"fuel_used":' '"peak_memory_bytes":' '"wall_time_ms":'; do
  check "--json has $field" grep -q "$field" "$WORK/json"
done
check "--json carries progress" test "$(grep -o '"percent":' "$WORK/json" | wc -l)" -eq 10
check "--json carries checkpoints" test "$(grep -o '"sha256":' "$WORK/json" | wc -l)" -eq 2
check "--json parses" python3 -c "import json,sys; json.load(open('$WORK/json'))"
fuel() {
  "$MESH" run --json "$EX/primes.wasm" -- 3000 2>&1 >/dev/null | grep -o '"fuel_used":[0-9]*'
}
check "fuel is the same every run" test "$(fuel)" == "$(fuel)"
expect_exit "--nondeterministic runs" 0 "$MESH" run --nondeterministic "$EX/hello.wasm"

# Engines: auto is aot when a C compiler is installed; both give the same bytes and fuel.
engine_fuel() {  # engine_fuel ENGINE: "<fuel_used> <output>" of primes 3000
  local out fuel
  out="$("$MESH" run --json --engine "$1" "$EX/primes.wasm" -- 3000 2>"$WORK/engine.json")"
  fuel="$(grep -o '"fuel_used":[0-9]*' "$WORK/engine.json")"
  grep -q "\"engine\":\"$1\"" "$WORK/engine.json" && echo "$fuel $out"
}
interp_result="$(engine_fuel interp)"
check "--engine interp runs interp" test -n "$interp_result"
if command -v "${CC:-cc}" >/dev/null; then
  check "--engine aot: same output and fuel as interp" test "$(engine_fuel aot)" == "$interp_result"
  expect_exit "aot engine: timeout -> 14" 14 "$MESH" run --engine aot "$EX/loop.wasm" \
    --fuel 1000000000000000 --timeout 300ms
  expect_exit "aot engine: oob trap -> 11" 11 "$MESH" run --engine aot "$EX/trap.wasm" -- oob
else
  echo "note: no C compiler, aot checks skipped"
fi

# One exit status per outcome.
expect_exit "job exit code 42 -> 10" 10 "$MESH" run "$EX/trap.wasm" -- exit42
check "report shows the job's exit code" grep -q '^exit code: *42$' "$WORK/err"
expect_exit "trap -> 11" 11 "$MESH" run "$EX/trap.wasm" -- unreachable
check "trap report names the trap" grep -q '^trap: ' "$WORK/err"
expect_exit "fuel -> 12" 12 "$MESH" run "$EX/loop.wasm" --fuel 1000000
check "fuel message names the fix" grep -q 'raise --fuel' "$WORK/err"
expect_exit "memory -> 13" 13 "$MESH" run "$EX/membomb.wasm" --memory 16MiB
check "memory report shows the job's stderr" grep -q 'membomb: malloc failed' "$WORK/err"
check "memory report names the limit and the flag" grep -q 'memory limit of 16777216 bytes was reached.*raise --memory' "$WORK/err"
# memory.grow past the limit returns -1: a program that copes with malloc's NULL ends well.
expect_exit "a refused grow the job copes with -> 0" 0 "$MESH" run "$EX/memcache.wasm" --memory 8MiB
check "the report counts the refused grows" grep -q 'memory.grow refused)' "$WORK/err"
expect_exit "timeout -> 14" 14 "$MESH" run "$EX/loop.wasm" --fuel 1000000000000000 --timeout 500ms
check "timeout message" grep -q 'wall-time limit of 500ms; raise --timeout' "$WORK/err"
expect_exit "stack overflow -> 15" 15 "$MESH" run "$EX/recursion.wasm"
expect_exit "output too large -> 16" 16 "$MESH" run "$EX/echo.wasm" --input "$WORK/random" \
  --max-output 1KiB
printf 'not a module' >"$WORK/bad.wasm"
expect_exit "invalid module -> 17" 17 "$MESH" run "$WORK/bad.wasm"
check "invalid module is one line" test "$(wc -l <"$WORK/err")" -eq 1
check "invalid module error names the problem" grep -q 'bad magic number' "$WORK/err"
# (module (import "env" "f" (func)) (func (export "_start") (call 0)))
printf '\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x02\x09\x01\x03env\x01f\x00\x00'\
'\x03\x02\x01\x00\x07\x0a\x01\x06_start\x00\x01\x0a\x06\x01\x04\x00\x10\x00\x0b' \
  >"$WORK/import.wasm"
expect_exit "unsupported import -> 18" 18 "$MESH" run "$WORK/import.wasm"
check "unsupported import is named" grep -q 'env' "$WORK/err"

# A worker killed under a running job -> 19, and mesh does not hang.
"$MESH" run "$EX/loop.wasm" --fuel 1000000000000000 --timeout 60s >/dev/null 2>"$WORK/err" &
mesh_pid=$!
worker=""
for _ in $(seq 200); do  # until the worker is sandboxed, i.e. about to take the job
  worker="$(pgrep -P "$mesh_pid" mesh-worker)" &&
    grep -q '^Seccomp:[[:space:]]*2' "/proc/$worker/status" 2>/dev/null && break
  sleep 0.05
done
sleep 0.3  # the job reaches the worker right after its greeting
kill -9 "$worker" 2>/dev/null
wait "$mesh_pid"
code=$?
check "crashed worker -> 19" test "$code" -eq 19
check "crash names the signal" grep -q 'SIGKILL' "$WORK/err"

# Files: host directories mounted with --dir (a private copy) and --dir-ro, and an output
# directory written out after the run.
mkdir -p "$WORK/tree/sub"
printf 'alpha beta beta\n' >"$WORK/tree/a.txt"
printf 'gamma beta\n' >"$WORK/tree/sub/b.txt"
ln -s a.txt "$WORK/tree/link"
fnv() { python3 -c 'import sys
h = 1469598103934665603
for b in open(sys.argv[1], "rb").read(): h = ((h ^ b) * 1099511628211) % 2**64
print("%016x" % h)' "$1"; }
expect_exit "tree walks a --dir-ro mount" 0 "$MESH" run "$EX/tree.wasm" --dir-ro "$WORK/tree::/data"
check "tree lists the mount in name order" test "$(cat "$WORK/out")" == \
  "$(printf 'f /data/a.txt 16 %s\nl /data/link -> a.txt\nd /data/sub/\nf /data/sub/b.txt 11 %s\ntree: 1 dirs, 2 files, 27 bytes' \
    "$(fnv "$WORK/tree/a.txt")" "$(fnv "$WORK/tree/sub/b.txt")")"
check "the same on the interpreter, with the same fuel" test \
  "$("$MESH" run --json --engine interp "$EX/tree.wasm" --dir-ro "$WORK/tree::/data" 2>&1 | grep -o '"fuel_used":[0-9]*')" == \
  "$("$MESH" run --json "$EX/tree.wasm" --dir-ro "$WORK/tree::/data" 2>&1 | grep -o '"fuel_used":[0-9]*')"
expect_exit "a path out of the mount is refused" 10 "$MESH" run "$EX/tree.wasm" \
  --dir-ro "$WORK/tree::/data" -- /data/../..
check "the job was told: not permitted" grep -q 'cannot open directory /data/../..: Operation not permitted' "$WORK/err"
expect_exit "a host path that is not mounted is not there" 10 "$MESH" run "$EX/tree.wasm" \
  --dir-ro "$WORK/tree::/data" -- /etc
expect_exit "--dir with a bad spec" 2 "$MESH" run "$EX/tree.wasm" --dir "::/data"
expect_exit "--dir of a missing directory" 3 "$MESH" run "$EX/tree.wasm" --dir "$WORK/absent"
expect_exit "--output-dir with no host directory after ::" 2 "$MESH" run "$EX/tree.wasm" \
  --output-dir "/out::"
check "it says what is missing" grep -q "names no host directory after '::'" "$WORK/err"
expect_exit "--output-dir with '..' in its guest path" 2 "$MESH" run "$EX/tree.wasm" \
  --output-dir "/a/../out::$WORK/never"
check "nothing was made for it" test ! -e "$WORK/never"
if [[ -f "$EX/wordfreq.wasm" ]]; then
  expect_exit "the Rust example reads a mount and writes an output dir" 0 "$MESH" run \
    "$EX/wordfreq.wasm" --dir-ro "$WORK/tree::/data" --output-dir "/out::$WORK/wf"
  check "its report file" test "$(cat "$WORK/wf/wordfreq.txt")" == \
    "$(printf '3 beta\n1 alpha\n1 gamma\nfiles 2 words 5')"
  check "the report says where the files went" grep -q "^output dir: .*$WORK/wf" "$WORK/err"
  expect_exit "an output dir that holds files already is refused" 4 "$MESH" run \
    "$EX/wordfreq.wasm" --dir-ro "$WORK/tree::/data" --output-dir "/out::$WORK/wf"
  expect_exit "a --dir-ro mount cannot be written" 10 "$MESH" run "$EX/wordfreq.wasm" \
    --dir-ro "$WORK/tree::/data" -- /data /data/report.txt
  check "the job says why" grep -q 'wordfreq: /data/report.txt' "$WORK/err"
  expect_exit "a --dir mount is written on a private copy" 0 "$MESH" run "$EX/wordfreq.wasm" \
    --dir "$WORK/tree::/data" -- /data /data/report.txt
  check "the host directory is unchanged" test ! -e "$WORK/tree/report.txt"
else
  echo "note: no Rust toolchain for wasm32-wasi, the Rust example's checks skipped"
fi

# Bad command lines and files: a one-line error each.
expect_exit "bad --memory" 2 "$MESH" run "$EX/hello.wasm" --memory 12XB
check "bad --memory names the unit" grep -q "unknown size unit 'XB'" "$WORK/err"
expect_exit "bad --timeout" 2 "$MESH" run "$EX/hello.wasm" --timeout soon
expect_exit "bad --engine" 2 "$MESH" run "$EX/hello.wasm" --engine jit
expect_exit "bad --env" 2 "$MESH" run "$EX/hello.wasm" --env NOEQUALS
check "bad --env is one line" test "$(wc -l <"$WORK/err")" -eq 1
expect_exit "no module" 2 "$MESH" run
expect_exit "missing module file" 3 "$MESH" run "$WORK/absent.wasm"
check "missing module names the file" grep -q "absent.wasm" "$WORK/err"
expect_exit "missing input file" 3 "$MESH" run "$EX/echo.wasm" --input "$WORK/absent"
MESH_WORKER="$WORK/no-such-worker" "$MESH" run "$EX/hello.wasm" >/dev/null 2>"$WORK/err"
check "missing worker exits 3" test $? -eq 3
check "missing worker names MESH_WORKER" grep -q "MESH_WORKER" "$WORK/err"

finish
