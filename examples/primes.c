// primes: counts the primes <= LIMIT with a sieve of Eratosthenes.
//
// Input: ignored. Args: optional decimal LIMIT, 0 <= LIMIT <= 1000000000 (default 1000000).
// Output: "primes<=<LIMIT>: <count> last=<largest prime <= LIMIT, or 0 if none>\n" on stdout,
//   e.g. "primes<=1000000: 78498 last=999983\n".
// Exit codes: 0 ok; 2 bad argument; 3 out of memory.
// Memory: one bit per odd number, LIMIT/16 bytes (62.5 MB at the maximum LIMIT).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kMaxLimit = 1000000000 };

int main(int argc, char** argv) {
  uint32_t limit = 1000000;
  if (argc > 2) {
    fprintf(stderr, "usage: primes [LIMIT]\n");
    return 2;
  }
  if (argc == 2) {
    char* end;
    unsigned long long v = strtoull(argv[1], &end, 10);
    if (argv[1][0] < '0' || argv[1][0] > '9' || *end != '\0' || v > kMaxLimit) {
      fprintf(stderr, "primes: LIMIT must be a decimal integer in 0..%d\n", kMaxLimit);
      return 2;
    }
    limit = (uint32_t)v;
  }
  // Bit i of `composite` stands for the odd number 2*i + 1.
  uint32_t odds = limit / 2 + 1;
  uint8_t* composite = malloc(odds / 8 + 1);
  if (composite == NULL) {
    fprintf(stderr, "primes: out of memory\n");
    return 3;
  }
  memset(composite, 0, odds / 8 + 1);
  for (uint32_t p = 3; (uint64_t)p * p <= limit; p += 2) {
    if (composite[p / 16] & (1u << (p / 2 % 8))) continue;
    // No uint32 overflow: m + 2p < kMaxLimit + 2^17.
    for (uint32_t m = p * p; m <= limit; m += 2 * p)
      composite[m / 16] |= (uint8_t)(1u << (m / 2 % 8));
  }
  uint32_t count = limit >= 2 ? 1 : 0;
  uint32_t last = limit >= 2 ? 2 : 0;
  for (uint32_t x = 3; x <= limit; x += 2) {
    if (!(composite[x / 16] & (1u << (x / 2 % 8)))) {
      ++count;
      last = x;
    }
  }
  printf("primes<=%u: %u last=%u\n", (unsigned)limit, (unsigned)count, (unsigned)last);
  free(composite);
  return 0;
}
