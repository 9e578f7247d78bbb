// csv_split: a split module (a split job's WASM splitter) that cuts a CSV file into parts that
// each start with the file's header line, which the built-in line splitter cannot do.
//
// Input (stdin): a header line, then data lines ('\n'-terminated; a last line without '\n' is
//   kept). Env: MESH_SPLIT_PARTS = P, the number of parts wanted (1..100000; default 1).
// Output (stdout): frames, the split module convention: per part a little-endian uint32 length
//   then that many bytes. Part i is the header line followed by the data lines of share i: the
//   data lines are dealt into min(P, lines) parts of consecutive lines, the first
//   (lines % parts) parts one line longer. A file with no data lines gives one part: the header.
// Exit codes: 0 ok; 2 bad MESH_SPLIT_PARTS or no header line; 3 out of memory.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void Fail(int code, const char* msg) {
  fprintf(stderr, "csv_split: %s\n", msg);
  exit(code);
}

static void WriteFrame(const char* header, size_t header_len, const char* body, size_t len) {
  uint32_t n = (uint32_t)(header_len + len);
  unsigned char prefix[4] = {n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >> 24};
  fwrite(prefix, 1, 4, stdout);
  fwrite(header, 1, header_len, stdout);
  fwrite(body, 1, len, stdout);
}

int main(void) {
  unsigned long parts = 1;
  const char* env = getenv("MESH_SPLIT_PARTS");
  if (env != NULL) {
    char* end;
    parts = strtoul(env, &end, 10);
    if (*env == '\0' || *end != '\0' || parts == 0 || parts > 100000) {
      Fail(2, "MESH_SPLIT_PARTS must be in 1..100000");
    }
  }
  size_t cap = 1 << 16, len = 0, got;
  char* data = malloc(cap);
  if (data == NULL) Fail(3, "out of memory");
  while ((got = fread(data + len, 1, cap - len, stdin)) > 0) {
    len += got;
    if (len == cap && (data = realloc(data, cap *= 2)) == NULL) Fail(3, "out of memory");
  }
  char* nl = memchr(data, '\n', len);
  if (len == 0) Fail(2, "no header line");
  const size_t header_len = nl == NULL ? len : (size_t)(nl - data) + 1;
  const char* body = data + header_len;
  const size_t body_len = len - header_len;
  size_t lines = 0;
  for (size_t i = 0; i < body_len; ++i) lines += body[i] == '\n';
  if (body_len > 0 && body[body_len - 1] != '\n') ++lines;
  if (lines == 0) {
    WriteFrame(data, header_len, body, 0);
    return fflush(stdout) == 0 ? 0 : 1;
  }
  if (parts > lines) parts = lines;
  size_t at = 0;
  for (unsigned long p = 0; p < parts; ++p) {
    size_t want = lines / parts + (p < lines % parts ? 1 : 0), start = at;
    while (want > 0 && at < body_len) {
      const char* e = memchr(body + at, '\n', body_len - at);
      at = e == NULL ? body_len : (size_t)(e - body) + 1;
      --want;
    }
    WriteFrame(data, header_len, body + start, at - start);
  }
  free(data);
  return fflush(stdout) == 0 ? 0 : 1;
}
