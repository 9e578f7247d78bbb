#include "mesh/cas/blob_reader.h"

#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::cas {

absl::StatusOr<size_t> BlobReader::Read(char* buffer, size_t size) {
  if (done_) return 0;
  MESH_ASSIGN_OR_RETURN(size_t n, ReadSome(fd_.get(), buffer, size));
  if (n > 0) {
    hasher_.Update(std::string_view(buffer, n));
    read_ += n;
    return n;
  }
  done_ = true;
  if (Cid::FromDigest(hasher_.Finish(), cid_.codec()) != cid_) {
    if (on_corrupt_) on_corrupt_(cid_);
    return absl::DataLossError(mesh::StrCat("blob ", cid_.ToString(),
                                            " is corrupted on disk: its content no longer "
                                            "matches its CID (",
                                            read_, " bytes read)"));
  }
  return 0;
}

}  // namespace mesh::cas
