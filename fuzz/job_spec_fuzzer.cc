// libFuzzer target over job JSON and spec parsing: arbitrary bytes as the JSON a client submits
// (JobSpecFromJson, with and without identity) and as the payload of a signed job spec
// (OpenJobSpec). Nothing may throw or crash, and a spec that parses must survive its own
// canonical form: ToJson -> JobSpecFromJson gives the same canonical bytes (the job id).
//
//   cmake --preset fuzz && cmake --build --preset fuzz --target job_spec_fuzzer
//   build/fuzz/fuzz/job_spec_fuzzer -max_total_time=60
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mesh/crypto/envelope.h"
#include "mesh/crypto/key_pair.h"
#include "mesh/job/job_spec.h"
#include "nlohmann/json.hpp"

namespace {

const mesh::crypto::KeyPair& Key() {
  static const mesh::crypto::KeyPair key =
      *mesh::crypto::KeyPair::FromSeed(std::string(32, '\x42'));
  return key;
}

void CheckRoundTrip(const mesh::job::JobSpec& spec, bool require_identity) {
  const std::string canonical = mesh::job::CanonicalJson(spec);
  auto again = mesh::job::JobSpecFromJson(nlohmann::json::parse(canonical), require_identity);
  if (!again.ok() || mesh::job::CanonicalJson(*again) != canonical) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    for (bool identity : {false, true}) {
      auto spec = mesh::job::JobSpecFromJson(j, identity);
      if (spec.ok()) CheckRoundTrip(*spec, identity);
    }
  }
  // The same bytes as a signed spec's payload, and as a whole envelope.
  const std::string sealed =
      mesh::crypto::Envelope::Seal(Key(), mesh::job::kJobSpecPayloadType, std::string(text))
          .Serialize();
  auto opened = mesh::job::OpenJobSpec(sealed);
  if (opened.ok()) CheckRoundTrip(opened->spec, true);
  (void)mesh::job::OpenJobSpec(text);
  return 0;
}
