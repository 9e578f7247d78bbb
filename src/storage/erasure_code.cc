#include "mesh/storage/erasure_code.h"

#include <isa-l/erasure_code.h>

#include "mesh/common/strings.h"

namespace mesh::storage {

ErasureCode::ErasureCode(int k, int m)
    : k_(k),
      m_(m),
      matrix_(static_cast<size_t>((k + m) * k)),
      encode_tables_(static_cast<size_t>(32 * k * m)) {
  gf_gen_cauchy1_matrix(matrix_.data(), k + m, k);
  ec_init_tables(k, m, matrix_.data() + static_cast<size_t>(k * k), encode_tables_.data());
}

absl::StatusOr<ErasureCode> ErasureCode::Create(int k, int m) {
  if (k < 1 || k > kMaxDataShards || m < 1 || m > kMaxParityShards) {
    return absl::InvalidArgumentError(mesh::StrCat("code ", k, "+", m, ": k must be 1 to ",
                                                   kMaxDataShards, " and m 1 to ", kMaxParityShards,
                                                   " (e.g. 4+2)"));
  }
  return ErasureCode(k, m);
}

void ErasureCode::Encode(size_t len, const std::vector<const uint8_t*>& data,
                         const std::vector<uint8_t*>& parity) const {
  // ISA-L takes non-const pointers but only reads the sources.
  std::vector<uint8_t*> sources(data.size());
  for (size_t i = 0; i < data.size(); ++i) sources[i] = const_cast<uint8_t*>(data[i]);
  ec_encode_data(static_cast<int>(len), k_, m_, const_cast<uint8_t*>(encode_tables_.data()),
                 sources.data(), const_cast<uint8_t**>(parity.data()));
}

absl::Status ErasureCode::Rebuild(size_t len, const std::vector<uint8_t*>& shards,
                                  const std::vector<bool>& present,
                                  const std::vector<bool>& wanted) const {
  const int n = k_ + m_;
  std::vector<int> have, missing;
  for (int i = 0; i < n; ++i) {
    const size_t at = static_cast<size_t>(i);
    if (present[at]) {
      have.push_back(i);
    } else if (wanted.empty() || (at < wanted.size() && wanted[at])) {
      missing.push_back(i);
    }
  }
  if (static_cast<int>(have.size()) < k_) {
    return absl::FailedPreconditionError(mesh::StrCat(have.size(), " of ", n, " shards are left; ",
                                                      k_, " are needed to rebuild the rest"));
  }
  if (missing.empty()) return absl::OkStatus();
  have.resize(static_cast<size_t>(k_));  // any k will do: take the first
  // The rows of the k shards used, and their inverse: it maps those shards to the data shards.
  const size_t kk = static_cast<size_t>(k_);
  std::vector<uint8_t> rows(kk * kk), inverse(kk * kk);
  for (size_t r = 0; r < kk; ++r) {
    for (size_t c = 0; c < kk; ++c)
      rows[r * kk + c] = matrix_[static_cast<size_t>(have[r]) * kk + c];
  }
  if (gf_invert_matrix(rows.data(), inverse.data(), k_) != 0) {
    return absl::InternalError("the code's submatrix is singular (cannot happen for Cauchy)");
  }
  // One decode row per missing shard: a data shard's row of the inverse, or a parity row
  // times the inverse.
  std::vector<uint8_t> decode(missing.size() * kk);
  for (size_t j = 0; j < missing.size(); ++j) {
    const size_t lost = static_cast<size_t>(missing[j]);
    for (size_t c = 0; c < kk; ++c) {
      if (lost < kk) {
        decode[j * kk + c] = inverse[lost * kk + c];
      } else {
        uint8_t sum = 0;
        for (size_t i = 0; i < kk; ++i) sum ^= gf_mul(matrix_[lost * kk + i], inverse[i * kk + c]);
        decode[j * kk + c] = sum;
      }
    }
  }
  std::vector<uint8_t> tables(32 * kk * missing.size());
  ec_init_tables(k_, static_cast<int>(missing.size()), decode.data(), tables.data());
  std::vector<uint8_t*> sources(kk), outputs(missing.size());
  for (size_t i = 0; i < kk; ++i) sources[i] = shards[static_cast<size_t>(have[i])];
  for (size_t j = 0; j < missing.size(); ++j) outputs[j] = shards[static_cast<size_t>(missing[j])];
  ec_encode_data(static_cast<int>(len), k_, static_cast<int>(missing.size()), tables.data(),
                 sources.data(), outputs.data());
  return absl::OkStatus();
}

}  // namespace mesh::storage
