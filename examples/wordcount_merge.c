// wordcount_merge: a merge module (a split job's WASM merger) for wordcount's chunk outputs.
//
// Input (stdin): frames, the merge module convention: per chunk, in chunk order, a little-endian
//   uint32 length then that chunk's output, "<lines> <words> <bytes>\n" as wordcount writes it.
// Output (stdout): "<lines> <words> <bytes>\n", the sums. When the chunks are whole lines of one
//   text (the lines splitter), that is wordcount of the whole text.
// Exit codes: 0 ok; 2 a truncated frame or a chunk output that is not three counts.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void Fail(const char* msg) {
  fprintf(stderr, "wordcount_merge: %s\n", msg);
  exit(2);
}

int main(void) {
  unsigned long long total[3] = {0, 0, 0};
  unsigned char prefix[4];
  size_t got;
  unsigned chunks = 0;
  while ((got = fread(prefix, 1, 4, stdin)) > 0) {
    if (got != 4) Fail("truncated frame length");
    uint32_t n = prefix[0] | prefix[1] << 8 | prefix[2] << 16 | (uint32_t)prefix[3] << 24;
    if (n > 100) Fail("a chunk output longer than three counts");
    char text[101];
    if (fread(text, 1, n, stdin) != n) Fail("truncated frame");
    text[n] = '\0';
    unsigned long long v[3];
    int used = 0;
    if (sscanf(text, "%llu %llu %llu\n%n", &v[0], &v[1], &v[2], &used) != 3 || (size_t)used != n) {
      Fail("a chunk output is not \"<lines> <words> <bytes>\\n\"");
    }
    for (int i = 0; i < 3; ++i) total[i] += v[i];
    ++chunks;
  }
  if (chunks == 0) Fail("no chunk outputs");
  printf("%llu %llu %llu\n", total[0], total[1], total[2]);
  return fflush(stdout) == 0 ? 0 : 1;
}
