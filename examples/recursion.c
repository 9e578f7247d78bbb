// recursion (hostile): recurses until the stack runs out. Exists to test that stack exhaustion is a
// clean trap (the modules are linked with --stack-first, so overflowing the 1 MiB shadow stack
// runs below address 0 and traps instead of overwriting static data).
//
// Input: ignored. Args: optional decimal MAX_DEPTH; without it (or with 0) the recursion is
//   unbounded. With a bound, prints "recursion depth=<MAX_DEPTH> sum=<s>\n" on stdout and exits 0.
// Each frame keeps a 64-byte local array in linear memory and uses it after the recursive call
// returns, so the call is not a tail call and cannot be turned into a loop.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t g_max_depth;  // 0 = unbounded

static uint64_t Dive(uint64_t depth) {
  volatile uint8_t frame[64];
  for (int i = 0; i < 64; ++i) frame[i] = (uint8_t)(depth + i);
  if (depth == g_max_depth) return frame[0];
  uint64_t below = Dive(depth + 1);
  return below + frame[depth % 64];
}

int main(int argc, char** argv) {
  if (argc > 1) g_max_depth = strtoull(argv[1], NULL, 10);
  uint64_t sum = Dive(1);
  printf("recursion depth=%llu sum=%llu\n", (unsigned long long)g_max_depth,
         (unsigned long long)sum);
  return 0;
}
