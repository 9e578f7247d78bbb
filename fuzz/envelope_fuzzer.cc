// libFuzzer target over envelope and market message decoding: arbitrary bytes as an envelope
// from a peer (Envelope::Open, OpenMessage) and, since random bytes rarely carry a valid
// signature, as the JSON of each market message type (MessageFromJson), which is what a
// signed message from a hostile peer reaches. Nothing may throw or crash, and a message that
// decodes must decode again from its own JSON.
//
//   cmake --preset fuzz && cmake --build --preset fuzz --target envelope_fuzzer
//   build/fuzz/fuzz/envelope_fuzzer -max_total_time=60
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "mesh/crypto/envelope.h"
#include "mesh/job/market.h"
#include "nlohmann/json.hpp"

namespace {

template <size_t... I>
std::vector<std::string> PayloadTypes(std::index_sequence<I...>) {
  return {std::string(mesh::job::PayloadType(mesh::job::Message(std::in_place_index<I>)))...};
}

const std::vector<std::string>& Types() {
  static const std::vector<std::string> types =
      PayloadTypes(std::make_index_sequence<std::variant_size_v<mesh::job::Message>>());
  return types;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)mesh::crypto::Envelope::Open(bytes, "application/octet-stream");
  (void)mesh::job::OpenMessage(bytes, 1 << 20);
  if (size == 0) return 0;
  // First byte: the message type; the rest: its JSON.
  const std::string& type = Types()[data[0] % Types().size()];
  const nlohmann::json j = nlohmann::json::parse(bytes.substr(1), nullptr, false);
  if (j.is_discarded()) return 0;
  auto message = mesh::job::MessageFromJson(type, j);
  if (!message.ok()) return 0;
  const nlohmann::json again = mesh::job::ToJson(*message);
  auto reread = mesh::job::MessageFromJson(type, nlohmann::json::parse(again.dump()));
  if (!reread.ok() || mesh::job::ToJson(*reread) != again) std::abort();
  return 0;
}
