// Shared inputs: sealed memfds, their checked read-only mappings, and the two bounded stores.
#include "mesh/exec/shared_input.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mesh/common/testing.h"

namespace mesh::exec {
namespace {

wasm::StdinPiece Piece(std::string cid, size_t size, char fill) {
  return wasm::StdinPiece::Owned(std::move(cid), std::string(size, fill));
}

TEST(SharedInputTest, SealedMemfdMapsToTheSameBytes) {
  const std::string bytes = "the broadcast input";
  ASSERT_OK_AND_ASSIGN(ScopedFd fd, MakeSealedMemfd(bytes));
  ASSERT_OK_AND_ASSIGN(wasm::StdinPiece piece, MapSharedInput(fd.get(), "cid-a", bytes.size()));
  EXPECT_EQ(piece.cid, "cid-a");
  EXPECT_EQ(piece.bytes, bytes);
  // Sealed: nobody can change or cut the bytes under a mapping.
  EXPECT_LT(::write(fd.get(), "x", 1), 0);
  EXPECT_NE(::ftruncate(fd.get(), 1), 0);
  fd.Reset();
  EXPECT_EQ(piece.bytes, bytes);  // the mapping outlives the descriptor
}

TEST(SharedInputTest, EmptyInputMapsToNothing) {
  ASSERT_OK_AND_ASSIGN(ScopedFd fd, MakeSealedMemfd(""));
  ASSERT_OK_AND_ASSIGN(wasm::StdinPiece piece, MapSharedInput(fd.get(), "cid-empty", 0));
  EXPECT_TRUE(piece.bytes.empty());
}

TEST(SharedInputTest, RefusesASizeOtherThanTheRequests) {
  ASSERT_OK_AND_ASSIGN(ScopedFd fd, MakeSealedMemfd(std::string(1000, 'x')));
  absl::StatusOr<wasm::StdinPiece> truncated = MapSharedInput(fd.get(), "cid-t", 2000);
  EXPECT_TRUE(absl::IsInvalidArgument(truncated.status())) << truncated.status();
  EXPECT_NE(truncated.status().message().find("holds 1000 bytes but the request says 2000"),
            std::string::npos)
      << truncated.status();
  absl::StatusOr<wasm::StdinPiece> oversized = MapSharedInput(fd.get(), "cid-o", 10);
  EXPECT_TRUE(absl::IsInvalidArgument(oversized.status())) << oversized.status();
}

TEST(SharedInputTest, RefusesAnUnsealedMemfd) {
  ScopedFd fd(::memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::write(fd.get(), "abc", 3), 3);
  absl::StatusOr<wasm::StdinPiece> piece = MapSharedInput(fd.get(), "cid-u", 3);
  EXPECT_TRUE(absl::IsInvalidArgument(piece.status())) << piece.status();
  EXPECT_NE(piece.status().message().find("not sealed"), std::string::npos) << piece.status();
  // Sealed against growing only: still writable, so still refused.
  ASSERT_EQ(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_GROW), 0);
  EXPECT_FALSE(MapSharedInput(fd.get(), "cid-u", 3).ok());
}

TEST(SharedInputTest, RefusesAFileThatIsNotAMemfd) {
  int pipes[2];
  ASSERT_EQ(::pipe(pipes), 0);
  ScopedFd read_end(pipes[0]), write_end(pipes[1]);
  EXPECT_FALSE(MapSharedInput(read_end.get(), "cid-p", 0).ok());
}

TEST(InputCacheTest, FindsAnInputOnlyByItsCidAndSize) {
  InputCache cache(1 << 20);
  cache.Insert(Piece("cid-a", 100, 'a'));
  ASSERT_NE(cache.Find("cid-a", 100), nullptr);
  EXPECT_EQ(cache.Find("cid-a", 100)->bytes, std::string(100, 'a'));
  EXPECT_EQ(cache.Find("cid-b", 100), nullptr);  // another CID: never these bytes
  EXPECT_EQ(cache.Find("cid-a", 99), nullptr);   // the size must match too
  EXPECT_EQ(cache.Find("cid-a", 101), nullptr);
  // A second insert under the same CID does not replace the first.
  cache.Insert(Piece("cid-a", 100, 'z'));
  EXPECT_EQ(cache.Find("cid-a", 100)->bytes, std::string(100, 'a'));
  // Unnamed pieces are never kept.
  cache.Insert(Piece("", 10, 'n'));
  EXPECT_EQ(cache.size(), 1u);
}

TEST(InputCacheTest, StaysWithinItsBound) {
  InputCache cache(1000);
  cache.Insert(Piece("a", 400, 'a'));
  cache.Insert(Piece("b", 400, 'b'));
  EXPECT_NE(cache.Find("a", 400), nullptr);  // a is now the most recent
  cache.Insert(Piece("c", 400, 'c'));        // over the bound: b, the least recent, goes
  EXPECT_LE(cache.bytes(), 1000u);
  EXPECT_NE(cache.Find("a", 400), nullptr);
  EXPECT_EQ(cache.Find("b", 400), nullptr);
  EXPECT_NE(cache.Find("c", 400), nullptr);
  cache.Insert(Piece("huge", 1001, 'h'));  // larger than the bound: not kept at all
  EXPECT_EQ(cache.Find("huge", 1001), nullptr);
  EXPECT_LE(cache.bytes(), 1000u);
}

TEST(InputCacheTest, ADroppedInputLivesWhileAJobUsesIt) {
  InputCache cache(100);
  cache.Insert(Piece("a", 100, 'a'));
  wasm::StdinPiece in_use = *cache.Find("a", 100);
  cache.Insert(Piece("b", 100, 'b'));  // drops a
  EXPECT_EQ(cache.Find("a", 100), nullptr);
  EXPECT_EQ(in_use.bytes, std::string(100, 'a'));
}

TEST(SharedInputFilesTest, OneMemfdPerCidWithinTheBound) {
  SharedInputFiles files(1000);
  ASSERT_OK_AND_ASSIGN(auto a, files.Get("a", std::string(600, 'a')));
  ASSERT_OK_AND_ASSIGN(auto a_again, files.Get("a", std::string(600, 'a')));
  EXPECT_EQ(a.get(), a_again.get());
  ASSERT_OK_AND_ASSIGN(auto b, files.Get("b", std::string(600, 'b')));  // a goes
  EXPECT_LE(files.bytes(), 1000u);
  EXPECT_TRUE(a->valid());  // still held here
  ASSERT_OK_AND_ASSIGN(auto a_new, files.Get("a", std::string(600, 'a')));
  EXPECT_NE(a.get(), a_new.get());
  ASSERT_OK_AND_ASSIGN(auto huge, files.Get("huge", std::string(2000, 'h')));  // not kept
  EXPECT_LE(files.bytes(), 1000u);
  ASSERT_OK_AND_ASSIGN(wasm::StdinPiece mapped, MapSharedInput(huge->get(), "huge", 2000));
  EXPECT_EQ(mapped.bytes, std::string(2000, 'h'));
}

}  // namespace
}  // namespace mesh::exec
