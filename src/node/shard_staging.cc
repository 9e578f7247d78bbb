#include "mesh/node/shard_staging.h"

#include <fcntl.h>
#include <unistd.h>

#include <system_error>

#include "mesh/common/file_util.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

namespace mesh::node {

absl::StatusOr<std::unique_ptr<ShardStaging>> ShardStaging::Open(std::filesystem::path dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) {
    return absl::InternalError(
        mesh::StrCat("cannot clear the staging directory ", dir.string(), ": ", ec.message()));
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        mesh::StrCat("cannot make the staging directory ", dir.string(), ": ", ec.message()));
  }
  return std::unique_ptr<ShardStaging>(new ShardStaging(std::move(dir)));
}

absl::Status ShardStaging::Add(const cas::Cid& cid, std::string_view bytes) {
  const std::string name = cid.ToString();
  absl::MutexLock lock(&mu_);  // held across the write: a second Add of the CID waits for it
  int& count = count_[name];
  if (count == 0) {
    const std::filesystem::path path = PathFor(name);
    absl::StatusOr<ScopedFd> fd = OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    absl::Status written = fd.ok() ? WriteAll(fd->get(), bytes) : fd.status();
    if (!written.ok()) {
      count_.erase(name);
      ::unlink(path.c_str());
      return written;
    }
  }
  ++count;
  return absl::OkStatus();
}

void ShardStaging::Remove(const cas::Cid& cid) {
  const std::string name = cid.ToString();
  absl::MutexLock lock(&mu_);
  auto it = count_.find(name);
  if (it == count_.end()) return;
  if (--it->second > 0) return;
  count_.erase(it);
  ::unlink(PathFor(name).c_str());
}

absl::StatusOr<std::optional<std::unique_ptr<cas::ByteSource>>> ShardStaging::Open(
    const cas::Cid& cid, uint64_t offset) {
  const std::string name = cid.ToString();
  absl::StatusOr<ScopedFd> fd;
  {
    absl::MutexLock lock(&mu_);  // so Remove cannot unlink between the lookup and the open
    if (!count_.contains(name)) return std::nullopt;
    fd = OpenFile(PathFor(name), O_RDONLY | O_CLOEXEC);
  }
  MESH_RETURN_IF_ERROR(fd.status());
  MESH_ASSIGN_OR_RETURN(std::unique_ptr<cas::ByteSource> source,
                        cas::FileSourceAt(*std::move(fd), offset, name));
  return std::optional<std::unique_ptr<cas::ByteSource>>(std::move(source));
}

size_t ShardStaging::staged() const {
  absl::MutexLock lock(&mu_);
  return count_.size();
}

}  // namespace mesh::node
