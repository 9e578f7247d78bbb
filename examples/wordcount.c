// wordcount: counts lines, words and bytes of its input, like `wc`.
//
// Input:  any bytes on stdin (streamed; never held in memory).
// Output: "<lines> <words> <bytes>\n" on stdout, decimal, single spaces.
//   lines = number of '\n' bytes; words = maximal runs of non-whitespace bytes, where whitespace
//   is ' ', '\t', '\n', '\v', '\f', '\r' (the C locale; no multibyte handling).
// Args/env: ignored. Exit code 0, or 1 if reading fails.
#include <stdio.h>
#include <string.h>

static unsigned char buf[1 << 16];

static int IsSpace(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int main(void) {
  unsigned long long lines = 0, words = 0, bytes = 0;
  int in_word = 0;
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
    bytes += n;
    for (size_t i = 0; i < n; ++i) {
      unsigned char c = buf[i];
      if (c == '\n') ++lines;
      if (IsSpace(c)) {
        in_word = 0;
      } else if (!in_word) {
        in_word = 1;
        ++words;
      }
    }
  }
  if (ferror(stdin)) {
    fprintf(stderr, "wordcount: read error\n");
    return 1;
  }
  printf("%llu %llu %llu\n", lines, words, bytes);
  return 0;
}
