// membomb (hostile): allocates memory until something stops it. Exists to test memory limits.
//
// Input: ignored. Output: none on stdout.
// Log (stderr): "membomb: <n> MiB\n" after every 16 MiB allocated and touched.
// Allocates 1 MiB chunks forever and writes every byte of each (so the pages are really used).
// When malloc returns NULL it prints "membomb: malloc failed after <n> MiB" and calls abort(),
// which in wasm32-wasi is an `unreachable` trap.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kChunk = 1 << 20 };

// The chunks form a list whose head is published through a volatile, so the allocations escape and
// the compiler cannot delete them.
void* volatile g_head;

int main(void) {
  for (unsigned long mib = 0;; ++mib) {
    void** chunk = malloc(kChunk);
    if (chunk == NULL) {
      fprintf(stderr, "membomb: malloc failed after %lu MiB\n", mib);
      abort();
    }
    memset(chunk, (int)(mib & 0xff) | 1, kChunk);
    chunk[0] = g_head;
    g_head = chunk;
    if ((mib + 1) % 16 == 0) fprintf(stderr, "membomb: %lu MiB\n", mib + 1);
  }
}
