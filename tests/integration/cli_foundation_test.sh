#!/usr/bin/env bash
# Integration test: drives the `mesh` CLI as a user would (identity, blobs, CIDs, errors).
# Usage: cli_foundation_test.sh PATH_TO_MESH
set -u
MESH="$1"
source "$(dirname "$0")/test_lib.sh"
export MESH_DATA_DIR="$WORK/data"

# Identity.
did="$("$MESH" id new)"
check "id new prints a did:key" grep -Eq '^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]+$' <<<"$did"
check "key file is 0600" test "$(stat -c %a "$MESH_DATA_DIR/identity.key")" == 600
check "id show prints the same DID" test "$("$MESH" id show)" == "$did"
check "id show --json" bash -c "'$MESH' id show --json | grep -q '\"did\":\"$did\"'"
expect_exit "id new refuses to overwrite" 4 "$MESH" id new
check "overwrite refusal names the file" grep -q "already exists" "$WORK/err"
chmod 644 "$MESH_DATA_DIR/identity.key"
expect_exit "world-readable key is refused" 5 "$MESH" id show
check "refusal says how to fix" grep -q "chmod 600" "$WORK/err"
other="$("$MESH" id new --key "$WORK/other.key")"
check "id new --key writes a new key" test -f "$WORK/other.key" -a "$other" != "$did"
expect_exit "id show on missing key" 3 "$MESH" --data-dir "$WORK/empty" id show

# Blobs.
printf 'hello world' >"$WORK/hello"
cid="$("$MESH" blob put "$WORK/hello")"
check "blob put prints the reference CID" test "$cid" == bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e
check "cid matches without storing" test "$("$MESH" cid "$WORK/hello")" == "$cid"
check "cid from stdin" test "$(printf 'hello world' | "$MESH" cid -)" == "$cid"
check "blob get returns the bytes" test "$("$MESH" blob get "$cid")" == "hello world"
head -c 5000000 /dev/urandom >"$WORK/random"
rcid="$("$MESH" blob put - <"$WORK/random")"
"$MESH" blob get "$rcid" >"$WORK/random.back"
check "5 MB blob via stdin round-trips" cmp -s "$WORK/random" "$WORK/random.back"
"$MESH" blob get "$rcid" -o "$WORK/random.out"
check "blob get -o writes the file" cmp -s "$WORK/random" "$WORK/random.out"
check "blob ls lists both" test "$("$MESH" blob ls | wc -l)" -eq 2
check "blob ls --json has sizes" bash -c "'$MESH' blob ls --json | grep -q '\"size\":5000000'"
check "blob put --json" bash -c "'$MESH' blob put --json '$WORK/hello' | grep -q '\"size\":11'"

# Directory trees (issue 17): a tree is a dag-json manifest; the same tree has the same CID.
mkdir -p "$WORK/tree/a" "$WORK/tree/empty"
printf 'one' >"$WORK/tree/a/x.txt"
printf 'two!' >"$WORK/tree/b.txt"
ln -s a/x.txt "$WORK/tree/l"
tcid="$("$MESH" blob put --dir "$WORK/tree")"
check "blob put --dir prints a dag-json CID" grep -Eq '^baguqeera[a-z2-7]+$' <<<"$tcid"
cp -a "$WORK/tree" "$WORK/tree2"
check "the same tree elsewhere has the same CID" \
  test "$("$MESH" blob put --dir "$WORK/tree2")" == "$tcid"
check "blob put --dir --json counts files" \
  bash -c "'$MESH' --json blob put --dir '$WORK/tree' | grep -q '\"files\":2'"
check "the manifest lists the link, not its target" \
  bash -c "'$MESH' blob get '$tcid' | grep -q '\"kind\":\"symlink\",\"path\":\"l\",\"target\":\"a/x.txt\"'"
mkfifo "$WORK/tree2/pipe"
expect_exit "a FIFO in a tree is refused" 2 "$MESH" blob put --dir "$WORK/tree2"
check "the refusal names the FIFO" grep -q "pipe is a FIFO" "$WORK/err"

# Bad input: every case is a one-line error and a specific exit code.
expect_exit "malformed CID" 2 "$MESH" blob get not-a-cid
check "malformed CID error is one line" test "$(wc -l <"$WORK/err")" -eq 1
check "malformed CID error names the problem" grep -q "multibase prefix" "$WORK/err"
absent="$(printf 'never stored' | "$MESH" cid -)"
expect_exit "unknown blob" 3 "$MESH" blob get "$absent"
expect_exit "missing input file" 3 "$MESH" blob put "$WORK/does-not-exist"
expect_exit "unknown command" 2 "$MESH" frobnicate

# Corruption on disk: get refuses with data loss and writes nothing.
blob_file="$(find "$MESH_DATA_DIR/store/blobs" -name "$rcid")"
chmod 644 "$blob_file"
printf 'X' | dd of="$blob_file" bs=1 seek=1000 conv=notrunc status=none
"$MESH" blob get "$rcid" >"$WORK/corrupt.out" 2>"$WORK/err"
code=$?
check "corrupted blob exits 6" test $code -eq 6
check "corrupted blob writes nothing" test ! -s "$WORK/corrupt.out"
check "corruption error names the blob" grep -q "$rcid" "$WORK/err"
expect_exit "quarantined blob is then absent" 3 "$MESH" blob get "$rcid"
"$MESH" blob put "$WORK/random" >/dev/null
check "re-put restores the blob" bash -c "'$MESH' blob get '$rcid' | cmp -s - '$WORK/random'"

# Delete.
check "blob rm" "$MESH" blob rm "$cid"
expect_exit "blob rm twice" 3 "$MESH" blob rm "$cid"

finish
