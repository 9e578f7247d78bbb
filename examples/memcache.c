// memcache: a cache that grows until the memory limit refuses it, then lives within what it got.
// Exists to show (and test) the WebAssembly spec's memory.grow: past the job's memory limit it
// returns -1, so malloc returns NULL and a program that handles it carries on.
//
// Input: ignored. Arg: [ROUNDS] (default 1000) lookups to serve once the cache is full.
// Output: "cache: <n> MiB held, refused at the limit; served <rounds> rounds, checksum <c>\n";
// exit 0. Without a limit in sight (64 MiB of chunks taken) it stops growing there by itself.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kChunk = 1 << 20, kMaxChunks = 64 };

int main(int argc, char** argv) {
  const unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
  static uint8_t* chunks[kMaxChunks];
  int held = 0;
  int refused = 0;
  while (held < kMaxChunks) {
    uint8_t* chunk = malloc(kChunk);
    if (chunk == NULL) {  // the limit: keep what we have, and give one chunk back for headroom
      refused = 1;
      if (held > 0) free(chunks[--held]);
      break;
    }
    memset(chunk, held + 1, kChunk);
    chunks[held++] = chunk;
  }
  if (held == 0) {
    fprintf(stderr, "memcache: no memory for even one chunk\n");
    return 1;
  }
  uint64_t checksum = 0;
  for (unsigned long i = 0; i < rounds; ++i) {
    const uint8_t* chunk = chunks[(i * 7919) % (unsigned long)held];
    checksum = checksum * 31 + chunk[(i * 104729) % kChunk];
  }
  printf("cache: %d MiB held, %s; served %lu rounds, checksum %llu\n", held,
         refused ? "refused at the limit" : "no limit reached", rounds,
         (unsigned long long)checksum);
  return 0;
}
