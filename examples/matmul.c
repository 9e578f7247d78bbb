// matmul: multiplies two N x N float64 matrices, C = A * B.
//
// Input (stdin, all little-endian, no padding):
//   uint32 N                 1 <= N <= 4096
//   float64 A[N*N]           row-major: A[i][j] is element i*N + j
//   float64 B[N*N]           row-major
//   Trailing bytes after B are ignored.
// Output (stdout): float64 C[N*N], little-endian, row-major; no header (N is known to the caller).
// Log (stderr): one line "matmul N=<n> checksum=<s>\n", s = sum of C[0], C[1], ... C[N*N-1] added
//   in that order, printed with "%.17g".
// Args: "--gen N SEED" ignores stdin and generates A then B (A first, each row-major) from one
//   64-bit LCG stream: state = SEED (decimal uint64); per element
//     state = state * 6364136223846793005 + 1442695040888963407   (mod 2^64)
//     value = (double)(state >> 11) * 2^-52 - 1.0                 (exact; in [-1, 1))
//   "--block N": a row block, as a split job's chunk sees it: stdin is float64 A_rows[R*N] (R
//     whole rows of A, R >= 0) then float64 B[N*N], no header; the output is C_rows[R*N] =
//     A_rows * B. The chunks of A, multiplied in order, concatenate to C.
//   "--emit N SEED" (tools, not jobs): writes the generated A then B, raw (no header), so a
//     split job can take A and B as two inputs.
// Exit codes: 0 ok; 2 bad args, short input, N == 0 or N > 4096; 3 out of memory.
// Arithmetic: plain i,k,j triple loop, C[i][j] accumulated over k = 0..N-1 in order, no FMA
// (build with -ffp-contract=off), so every conforming build produces bit-identical output.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kMaxN = 4096 };

static void Fail(int code, const char* msg) {
  fprintf(stderr, "matmul: %s\n", msg);
  exit(code);
}

static double* Alloc(size_t count) {
  double* p = malloc(count * sizeof(double));
  if (p == NULL) Fail(3, "out of memory");
  return p;
}

// Reads count little-endian float64 values from stdin into out (in place, any host byte order).
static void ReadMatrix(double* out, size_t count) {
  unsigned char* raw = (unsigned char*)out;
  if (fread(raw, 8, count, stdin) != count) Fail(2, "input too short");
  for (size_t i = 0; i < count; ++i) {
    uint64_t bits = 0;
    for (int b = 7; b >= 0; --b) bits = bits << 8 | raw[8 * i + b];
    memcpy(&out[i], &bits, 8);
  }
}

static void WriteMatrix(const double* m, size_t count) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (fwrite(m, 8, count, stdout) != count) Fail(1, "write error");
  return;
#endif
  unsigned char chunk[8 * 1024];
  size_t fill = 0;
  for (size_t i = 0; i < count; ++i) {
    uint64_t bits;
    memcpy(&bits, &m[i], 8);
    for (int b = 0; b < 8; ++b) chunk[fill++] = (unsigned char)(bits >> (8 * b));
    if (fill == sizeof chunk || i + 1 == count) {
      if (fwrite(chunk, 1, fill, stdout) != fill) Fail(1, "write error");
      fill = 0;
    }
  }
}

static double NextValue(uint64_t* state) {
  *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*state >> 11) * (1.0 / 4503599627370496.0) - 1.0;
}

static uint32_t ParseN(const char* s) {
  char* end;
  unsigned long long v = strtoull(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v == 0 || v > kMaxN) Fail(2, "N must be in 1..4096");
  return (uint32_t)v;
}

// Reads all of stdin (the row-block mode cannot know its length up front), starting with room
// for `expect` bytes. The buffer is malloc'd, so aligned for doubles.
static unsigned char* ReadAll(size_t expect, size_t* size) {
  size_t cap = expect + (1 << 16), len = 0;
  unsigned char* buf = malloc(cap);
  if (buf == NULL) Fail(3, "out of memory");
  size_t got;
  while ((got = fread(buf + len, 1, cap - len, stdin)) > 0) {
    len += got;
    if (len == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      if (buf == NULL) Fail(3, "out of memory");
    }
  }
  *size = len;
  return buf;
}

static void Decode(double* out, const unsigned char* raw, size_t count) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  // wasm32 and x86-64: the wire order is the memory order (in place when out == raw).
  if ((const void*)out != (const void*)raw) memcpy(out, raw, count * 8);
  return;
#endif
  for (size_t i = 0; i < count; ++i) {
    uint64_t bits = 0;
    for (int b = 7; b >= 0; --b) bits = bits << 8 | raw[8 * i + b];
    memcpy(&out[i], &bits, 8);
  }
}

// C_rows = A_rows * B over `rows` rows, the same loop order as the whole product.
static void Multiply(double* c, const double* a, const double* b, size_t rows, size_t n) {
  memset(c, 0, rows * n * sizeof(double));
  for (size_t i = 0; i < rows; ++i) {
    double* ci = c + i * n;
    for (size_t k = 0; k < n; ++k) {
      double aik = a[i * n + k];
      const double* bk = b + k * n;
      for (size_t j = 0; j < n; ++j) ci[j] += aik * bk[j];
    }
  }
}

static int RunBlock(uint32_t n) {
  size_t size;
  const size_t row_bytes = (size_t)n * 8, b_bytes = (size_t)n * n * 8;
  // Room for B and a few hundred rows: one allocation in the common case, no regrowth copies.
  unsigned char* raw = ReadAll(b_bytes + 256 * row_bytes, &size);
  if (size < b_bytes || (size - b_bytes) % row_bytes != 0) {
    Fail(2, "block input must be whole rows of A then B (N*N float64)");
  }
  const size_t rows = (size - b_bytes) / row_bytes;
  double* a = (double*)raw;  // decoded in place: the bytes are the doubles on little-endian
  Decode(a, raw, rows * n + (size_t)n * n);
  double* b = a + rows * n;
  double* c = Alloc(rows * n + 1);
  Multiply(c, a, b, rows, n);
  double checksum = 0.0;
  for (size_t i = 0; i < rows * n; ++i) checksum += c[i];
  fprintf(stderr, "matmul N=%u rows=%zu checksum=%.17g\n", (unsigned)n, rows, checksum);
  WriteMatrix(c, rows * n);
  free(a);
  free(c);
  return fflush(stdout) == 0 ? 0 : 1;
}

static uint64_t ParseSeed(const char* s) {
  char* end;
  uint64_t seed = strtoull(s, &end, 10);
  if (s[0] == '\0' || *end != '\0') Fail(2, "SEED must be a decimal integer");
  return seed;
}

int main(int argc, char** argv) {
  uint32_t n;
  double *a, *b;
  if (argc == 3 && strcmp(argv[1], "--block") == 0) return RunBlock(ParseN(argv[2]));
  if (argc == 4 && strcmp(argv[1], "--emit") == 0) {
    n = ParseN(argv[2]);
    uint64_t state = ParseSeed(argv[3]);
    size_t count = (size_t)n * n;
    a = Alloc(count);
    for (int m = 0; m < 2; ++m) {
      for (size_t i = 0; i < count; ++i) a[i] = NextValue(&state);
      WriteMatrix(a, count);
    }
    free(a);
    return fflush(stdout) == 0 ? 0 : 1;
  }
  if (argc == 4 && strcmp(argv[1], "--gen") == 0) {
    n = ParseN(argv[2]);
    uint64_t state = ParseSeed(argv[3]);
    size_t count = (size_t)n * n;
    a = Alloc(count);
    b = Alloc(count);
    for (size_t i = 0; i < count; ++i) a[i] = NextValue(&state);
    for (size_t i = 0; i < count; ++i) b[i] = NextValue(&state);
  } else if (argc == 1) {
    unsigned char hdr[4];
    if (fread(hdr, 1, 4, stdin) != 4) Fail(2, "input too short");
    n = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
    if (n == 0 || n > kMaxN) Fail(2, "N must be in 1..4096");
    a = Alloc((size_t)n * n);
    b = Alloc((size_t)n * n);
    ReadMatrix(a, (size_t)n * n);
    ReadMatrix(b, (size_t)n * n);
  } else {
    Fail(2, "usage: matmul [--gen N SEED | --block N | --emit N SEED] < input");
    return 2;
  }
  double* c = Alloc((size_t)n * n);
  Multiply(c, a, b, n, n);
  double checksum = 0.0;
  for (size_t i = 0; i < (size_t)n * n; ++i) checksum += c[i];
  fprintf(stderr, "matmul N=%u checksum=%.17g\n", (unsigned)n, checksum);
  WriteMatrix(c, (size_t)n * n);
  free(a);
  free(b);
  free(c);
  return fflush(stdout) == 0 ? 0 : 1;
}
