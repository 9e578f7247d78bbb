// The numbers of WASI preview1 (wasi_snapshot_preview1.witx) that the host speaks: errno
// values, file types, flags, rights, and the guest layouts of the records it writes. Constants
// only.
#pragma once

#include <cstdint>

namespace mesh::wasm::wasi {

// errno. An enum class, so that a WasiOr<uint32_t> cannot mistake an errno for a value.
enum class Errno : uint16_t {
  kSuccess = 0,
  kAcces = 2,
  kBadf = 8,
  kDquot = 19,
  kExist = 20,
  kFault = 21,
  kFbig = 22,
  kIlseq = 25,
  kInval = 28,
  kIo = 29,
  kIsdir = 31,
  kLoop = 32,
  kMfile = 33,
  kMlink = 34,
  kNametoolong = 37,
  kNoent = 44,
  kNospc = 51,
  kNosys = 52,
  kNotdir = 54,
  kNotempty = 55,
  kNotsup = 58,
  kOverflow = 61,
  kPerm = 63,
  kSpipe = 70,
  kXdev = 75,
  kNotcapable = 76,
};

// filetype
inline constexpr uint8_t kFiletypeUnknown = 0;
inline constexpr uint8_t kFiletypeCharacterDevice = 2;
inline constexpr uint8_t kFiletypeDirectory = 3;
inline constexpr uint8_t kFiletypeRegularFile = 4;
inline constexpr uint8_t kFiletypeSymbolicLink = 7;

// oflags
inline constexpr uint16_t kOflagCreat = 1;
inline constexpr uint16_t kOflagDirectory = 2;
inline constexpr uint16_t kOflagExcl = 4;
inline constexpr uint16_t kOflagTrunc = 8;

// fdflags
inline constexpr uint16_t kFdflagAppend = 1;
inline constexpr uint16_t kFdflagDsync = 2;
inline constexpr uint16_t kFdflagNonblock = 4;
inline constexpr uint16_t kFdflagRsync = 8;
inline constexpr uint16_t kFdflagSync = 16;

// lookupflags
inline constexpr uint32_t kLookupSymlinkFollow = 1;

// fstflags
inline constexpr uint16_t kFstAtim = 1;
inline constexpr uint16_t kFstAtimNow = 2;
inline constexpr uint16_t kFstMtim = 4;
inline constexpr uint16_t kFstMtimNow = 8;

// whence
inline constexpr uint8_t kWhenceSet = 0;
inline constexpr uint8_t kWhenceCur = 1;
inline constexpr uint8_t kWhenceEnd = 2;

// rights (bit numbers from the witx)
inline constexpr uint64_t kRightFdDatasync = 1ull << 0;
inline constexpr uint64_t kRightFdRead = 1ull << 1;
inline constexpr uint64_t kRightFdSeek = 1ull << 2;
inline constexpr uint64_t kRightFdFdstatSetFlags = 1ull << 3;
inline constexpr uint64_t kRightFdSync = 1ull << 4;
inline constexpr uint64_t kRightFdTell = 1ull << 5;
inline constexpr uint64_t kRightFdWrite = 1ull << 6;
inline constexpr uint64_t kRightFdAdvise = 1ull << 7;
inline constexpr uint64_t kRightFdAllocate = 1ull << 8;
inline constexpr uint64_t kRightPathCreateDirectory = 1ull << 9;
inline constexpr uint64_t kRightPathCreateFile = 1ull << 10;
inline constexpr uint64_t kRightPathLinkSource = 1ull << 11;
inline constexpr uint64_t kRightPathLinkTarget = 1ull << 12;
inline constexpr uint64_t kRightPathOpen = 1ull << 13;
inline constexpr uint64_t kRightFdReaddir = 1ull << 14;
inline constexpr uint64_t kRightPathReadlink = 1ull << 15;
inline constexpr uint64_t kRightPathRenameSource = 1ull << 16;
inline constexpr uint64_t kRightPathRenameTarget = 1ull << 17;
inline constexpr uint64_t kRightPathFilestatGet = 1ull << 18;
inline constexpr uint64_t kRightPathFilestatSetSize = 1ull << 19;
inline constexpr uint64_t kRightPathFilestatSetTimes = 1ull << 20;
inline constexpr uint64_t kRightFdFilestatGet = 1ull << 21;
inline constexpr uint64_t kRightFdFilestatSetSize = 1ull << 22;
inline constexpr uint64_t kRightFdFilestatSetTimes = 1ull << 23;
inline constexpr uint64_t kRightPathSymlink = 1ull << 24;
inline constexpr uint64_t kRightPathRemoveDirectory = 1ull << 25;
inline constexpr uint64_t kRightPathUnlinkFile = 1ull << 26;
inline constexpr uint64_t kRightPollFdReadwrite = 1ull << 27;
inline constexpr uint64_t kRightsAll = (1ull << 30) - 1;

// eventtype, subclockflags, eventrwflags
inline constexpr uint8_t kEventClock = 0;
inline constexpr uint8_t kEventFdRead = 1;
inline constexpr uint8_t kEventFdWrite = 2;
inline constexpr uint16_t kSubclockAbstime = 1;
inline constexpr uint16_t kEventFdReadwriteHangup = 1;

// Guest record sizes.
inline constexpr uint32_t kFilestatSize = 64;
inline constexpr uint32_t kFdstatSize = 24;
inline constexpr uint32_t kDirentSize = 24;
inline constexpr uint32_t kSubscriptionSize = 48;
inline constexpr uint32_t kEventSize = 32;

}  // namespace mesh::wasm::wasi
