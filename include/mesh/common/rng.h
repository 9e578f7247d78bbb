// Rng: the only source of randomness in Mesh, injected so runs can be replayed.
// SeededRng (xoshiro256**) is deterministic for a seed; SecureRng draws from the OS CSPRNG
// (libsodium) and is what keys and nonces use. Instances are not thread-safe unless noted.
#pragma once

#include <cstdint>
#include <string>

namespace mesh {

class Rng {
 public:
  virtual ~Rng() = default;
  virtual uint64_t Next64() = 0;

  // Uniform in [0, bound); bound must be > 0. Unbiased (rejection sampling).
  uint64_t Uniform(uint64_t bound);
  // Uniform in [0, 1).
  double UniformDouble();
  std::string Bytes(size_t n);
};

class SeededRng final : public Rng {
 public:
  explicit SeededRng(uint64_t seed);
  uint64_t Next64() override;

 private:
  uint64_t s_[4];
};

// Thread-safe: libsodium's randombytes is.
class SecureRng final : public Rng {
 public:
  uint64_t Next64() override;
};

}  // namespace mesh
