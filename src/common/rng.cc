#include "mesh/common/rng.h"

#include <sodium.h>

#include <cstring>

namespace mesh {
namespace {

uint64_t SplitMix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

uint64_t Rng::Uniform(uint64_t bound) {
  if (bound <= 1) return 0;
  // Reject the top partial range so every residue is equally likely.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  uint64_t v;
  do {
    v = Next64();
  } while (v >= limit);
  return v % bound;
}

double Rng::UniformDouble() { return static_cast<double>(Next64() >> 11) * 0x1.0p-53; }

std::string Rng::Bytes(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = Next64();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return out;
}

SeededRng::SeededRng(uint64_t seed) {
  for (auto& s : s_) s = SplitMix64(seed);
}

uint64_t SeededRng::Next64() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

uint64_t SecureRng::Next64() {
  static const bool initialized = sodium_init() >= 0;
  (void)initialized;
  uint64_t v;
  randombytes_buf(&v, sizeof(v));
  return v;
}

}  // namespace mesh
