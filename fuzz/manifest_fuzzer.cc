// libFuzzer target over the manifests a peer or a client hands a node: directory manifests
// (cas::ParseManifest, then the symlink walk an export makes) and stored files' manifests
// (storage::ParseStoreManifest); and a sealed segment's bytes under a parsed record
// (SegmentCodec::OpenWhole: decryption, a zstd frame's declared size). Nothing may throw or
// crash; whatever parses must be canonical (its encoding gives back the same bytes).
//
//   cmake --preset fuzz && cmake --build --preset fuzz --target manifest_fuzzer
//   build/fuzz/fuzz/manifest_fuzzer -max_total_time=60
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mesh/cas/dir_manifest.h"
#include "mesh/cas/dir_tree.h"
#include "mesh/storage/segment.h"
#include "mesh/storage/store_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto m = mesh::cas::ParseManifest(text, mesh::cas::ManifestLimits{});
      if (m.ok()) {
        if (mesh::cas::EncodeManifest(*m) != text) std::abort();
        (void)mesh::cas::CheckSymlinksStayInside(*m);
      }
      break;
    }
    case 1: {
      auto m = mesh::storage::ParseStoreManifest(text);
      if (m.ok() && mesh::storage::EncodeStoreManifest(*m) != text) std::abort();
      break;
    }
    default: {
      // The first bytes pick the record; the rest is the sealed segment.
      if (text.size() < 4) return 0;
      mesh::storage::SegmentInfo info;
      info.plain_bytes = static_cast<uint8_t>(text[0]) * 257u;
      info.compression = (text[1] & 1) != 0 ? mesh::storage::Compression::kZstd
                                            : mesh::storage::Compression::kNone;
      const bool encrypted = (text[1] & 2) != 0;
      if (encrypted) info.nonce.assign(mesh::storage::kNonceBytes, text[2]);
      const std::string_view sealed = text.substr(3);
      info.sealed_bytes = sealed.size();
      auto codec = mesh::storage::SegmentCodec::Create(
          encrypted ? std::string(mesh::storage::kFileKeyBytes, 'k') : std::string(), nullptr);
      if (!codec.ok()) std::abort();
      auto plain = codec->OpenWhole(0, info, sealed);
      if (plain.ok() && plain->size() != info.plain_bytes) std::abort();
      break;
    }
  }
  return 0;
}
