# Shared by the CLI integration tests (sourced, not run): a scratch dir, pass/fail counters,
# and the two assertions. Callers end with `finish`, which prints the "N passed, N failed"
# line ctest's log shows and sets the exit status.
WORK="$(mktemp -d /tmp/mesh_cli_test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

check() {  # check NAME COMMAND...: the command must succeed
  local name="$1"; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name"; fi
}

expect_exit() {  # expect_exit NAME CODE COMMAND...: the command must exit with CODE
  local name="$1" want="$2"; shift 2
  "$@" >"$WORK/out" 2>"$WORK/err"
  local got=$?
  if [[ $got -eq $want ]]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: $name: exit $got, want $want; stderr: $(cat "$WORK/err")"
  fi
}

finish() {
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}
