// echo: copies its input to its output unchanged.
//
// Input:  any bytes on stdin.
// Output: the same bytes on stdout.
// Args/env: ignored. Exit code 0, or 1 if a read or write fails.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char buf[1 << 16];

static int WriteAll(const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(STDOUT_FILENO, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int main(void) {
  for (;;) {
    ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
    if (r == 0) return 0;
    if (r < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "echo: read: %s\n", strerror(errno));
      return 1;
    }
    if (WriteAll(buf, (size_t)r) != 0) {
      fprintf(stderr, "echo: write: %s\n", strerror(errno));
      return 1;
    }
  }
}
