#include "mesh/job/splitters.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "mesh/common/rng.h"
#include "mesh/common/strings.h"
#include "mesh/common/testing.h"

namespace mesh::job {
namespace {

using Chunks = std::vector<std::string_view>;

std::vector<std::string> Strings(const Chunks& chunks) {
  return std::vector<std::string>(chunks.begin(), chunks.end());
}

// The chunks are consecutive views into `data` that cover it exactly, in order.
void ExpectTiles(std::string_view data, const Chunks& chunks) {
  ASSERT_FALSE(chunks.empty());
  size_t pos = 0;
  for (std::string_view chunk : chunks) {
    if (!data.empty()) {
      EXPECT_EQ(chunk.data(), data.data() + pos);
    }
    pos += chunk.size();
  }
  EXPECT_EQ(pos, data.size());
  EXPECT_EQ(MergeConcat(Strings(chunks)), data);
}

// Every chunk is non-empty (unless the data is), and every chunk but the last ends with the
// separator: no record is cut.
void ExpectWholeRecords(std::string_view data, const Chunks& chunks, std::string_view separator) {
  ExpectTiles(data, chunks);
  if (data.empty()) {
    EXPECT_EQ(chunks.size(), 1u);
    return;
  }
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_FALSE(chunks[i].empty()) << i;
    if (i + 1 < chunks.size()) {
      EXPECT_TRUE(chunks[i].size() >= separator.size() &&
                  chunks[i].substr(chunks[i].size() - separator.size()) == separator)
          << "chunk " << i << " cuts a record: " << chunks[i];
    }
  }
}

// Records as a left-to-right, non-overlapping scan sees them.
size_t CountRecords(std::string_view data, std::string_view separator) {
  size_t n = 0;
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t at = data.find(separator, pos);
    pos = at == std::string_view::npos ? data.size() : at + separator.size();
    ++n;
  }
  return n;
}

TEST(SplitFixedTest, CutsEveryChunkBytes) {
  ASSERT_OK_AND_ASSIGN(Chunks chunks, SplitFixed("abcdefghij", 4));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"abcd", "efgh", "ij"}));
  ASSERT_OK_AND_ASSIGN(chunks, SplitFixed("abcdefgh", 4));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"abcd", "efgh"}));
  ASSERT_OK_AND_ASSIGN(chunks, SplitFixed("abc", 100));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"abc"}));
  ASSERT_OK_AND_ASSIGN(chunks, SplitFixed("abc", 1));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_OK_AND_ASSIGN(chunks, SplitFixed("abc", UINT64_MAX));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"abc"}));
}

TEST(SplitFixedTest, EmptyDataIsOneEmptyChunk) {
  ASSERT_OK_AND_ASSIGN(Chunks chunks, SplitFixed("", 4));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{""}));
}

TEST(SplitFixedTest, RefusesBadArguments) {
  EXPECT_EQ(SplitFixed("abc", 0).status().code(), absl::StatusCode::kInvalidArgument);
  const std::string big(kMaxSplitParts + 1, 'x');
  absl::StatusOr<Chunks> too_many = SplitFixed(big, 1);
  EXPECT_EQ(too_many.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_many.status().message().find("set chunk_bytes to at least 2"), std::string::npos)
      << too_many.status();
  ASSERT_OK_AND_ASSIGN(Chunks chunks, SplitFixed(big, 2));
  EXPECT_EQ(chunks.size(), kMaxSplitParts / 2 + 1);
  ExpectTiles(big, chunks);
}

TEST(SplitLinesTest, WholeLinesInRoughlyEqualParts) {
  const std::string data = "aa\nbb\ncc\ndd\n";
  ASSERT_OK_AND_ASSIGN(Chunks chunks, SplitLines(data, 2));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"aa\nbb\n", "cc\ndd\n"}));
  ASSERT_OK_AND_ASSIGN(chunks, SplitLines(data, 4));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"aa\n", "bb\n", "cc\n", "dd\n"}));
  ASSERT_OK_AND_ASSIGN(chunks, SplitLines(data, 1));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{data}));
  ASSERT_OK_AND_ASSIGN(chunks, SplitLines(data, 3));
  EXPECT_EQ(chunks.size(), 3u);
  ExpectWholeRecords(data, chunks, "\n");
}

TEST(SplitLinesTest, BalancesBytesNotLineCounts) {
  // One long line then short ones: two parts cut after the long line.
  const std::string data = std::string(100, 'x') + "\n" + "a\nb\nc\nd\n";
  ASSERT_OK_AND_ASSIGN(Chunks chunks, SplitLines(data, 2));
  EXPECT_EQ(Strings(chunks),
            (std::vector<std::string>{std::string(100, 'x') + "\n", "a\nb\nc\nd\n"}));
  // The cut goes to the nearer boundary: 10 + 10 + 2 bytes, halves near 11 -> after line 1.
  const std::string uneven = std::string(9, 'a') + "\n" + std::string(9, 'b') + "\nc\n";
  ASSERT_OK_AND_ASSIGN(chunks, SplitLines(uneven, 2));
  EXPECT_EQ(chunks[0], std::string(9, 'a') + "\n");
}

TEST(SplitLinesTest, MorePartsThanLines) {
  ASSERT_OK_AND_ASSIGN(Chunks chunks, SplitLines("a\nb\n", 10));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"a\n", "b\n"}));
  ASSERT_OK_AND_ASSIGN(chunks, SplitLines("\n\n\n", 5));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"\n", "\n", "\n"}));
}

TEST(SplitLinesTest, FinalLineWithoutNewlineIsKept) {
  ASSERT_OK_AND_ASSIGN(Chunks chunks, SplitLines("a\nb\nlast", 3));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"a\n", "b\n", "last"}));
  ASSERT_OK_AND_ASSIGN(chunks, SplitLines("no newline at all", 4));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"no newline at all"}));
}

TEST(SplitLinesTest, EmptyDataIsOneEmptyChunk) {
  ASSERT_OK_AND_ASSIGN(Chunks chunks, SplitLines("", 7));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{""}));
}

TEST(SplitLinesTest, RefusesBadParts) {
  EXPECT_EQ(SplitLines("a\n", 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitLines("a\n", kMaxSplitParts + 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_OK(SplitLines("a\n", kMaxSplitParts));
}

TEST(SplitRecordsTest, MultiByteSeparator) {
  const std::string data = "r1<SEP>record2<SEP>r3<SEP>";
  ASSERT_OK_AND_ASSIGN(Chunks chunks, SplitRecords(data, 3, "<SEP>"));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"r1<SEP>", "record2<SEP>", "r3<SEP>"}));
  ASSERT_OK_AND_ASSIGN(chunks, SplitRecords(data, 2, "<SEP>"));
  ExpectWholeRecords(data, chunks, "<SEP>");
  EXPECT_EQ(chunks.size(), 2u);
  // Matches do not overlap and are taken left to right: "aaaa" with "aa" is two records.
  ASSERT_OK_AND_ASSIGN(chunks, SplitRecords("aaaaa", 5, "aa"));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"aa", "aa", "a"}));
  // A NUL separator.
  const std::string nul("x\0yy\0z", 6);
  ASSERT_OK_AND_ASSIGN(chunks, SplitRecords(nul, 3, std::string_view("\0", 1)));
  EXPECT_EQ(Strings(chunks),
            (std::vector<std::string>{std::string("x\0", 2), std::string("yy\0", 3), "z"}));
}

TEST(SplitRecordsTest, DataWithoutSeparatorIsOneRecord) {
  ASSERT_OK_AND_ASSIGN(Chunks chunks, SplitRecords("a\nb\nc\n", 3, ";;"));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"a\nb\nc\n"}));
  // A separator split across... nothing: the last byte alone is not a match.
  ASSERT_OK_AND_ASSIGN(chunks, SplitRecords("abc;", 3, ";;"));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"abc;"}));
}

TEST(SplitRecordsTest, EmptyDataAndBadArguments) {
  ASSERT_OK_AND_ASSIGN(Chunks chunks, SplitRecords("", 3, ","));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{""}));
  EXPECT_EQ(SplitRecords("a,b", 2, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitRecords("a,b", 2, std::string(kMaxSeparatorBytes + 1, ',')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitRecords("a,b", 0, ",").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_OK(SplitRecords("a,b", 2, std::string(kMaxSeparatorBytes, ',')));
}

TEST(SplitTest, DispatchesTheBuiltIns) {
  Splitter s;
  s.kind = Splitter::kBytes;
  s.chunk_bytes = 2;
  ASSERT_OK_AND_ASSIGN(Chunks chunks, Split(s, "abcde"));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"ab", "cd", "e"}));
  s.kind = Splitter::kLines;
  s.parts = 2;
  ASSERT_OK_AND_ASSIGN(chunks, Split(s, "a\nb\n"));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"a\n", "b\n"}));
  s.kind = Splitter::kRecords;
  s.separator = ",";
  ASSERT_OK_AND_ASSIGN(chunks, Split(s, "a,b,"));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"a,", "b,"}));
  s.kind = Splitter::kWasm;
  s.module = "bafy";
  absl::StatusOr<Chunks> wasm = Split(s, "a,b,");
  EXPECT_EQ(wasm.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(wasm.status().message(), "a WASM splitter runs in the sandbox, not here");
  // A default Splitter is one part of lines: the whole input.
  ASSERT_OK_AND_ASSIGN(chunks, Split(Splitter(), "x\ny\n"));
  EXPECT_EQ(Strings(chunks), (std::vector<std::string>{"x\ny\n"}));
}

TEST(MergeConcatTest, JoinsInOrder) {
  EXPECT_EQ(MergeConcat({}), "");
  EXPECT_EQ(MergeConcat({""}), "");
  EXPECT_EQ(MergeConcat({"a", "", "bc", std::string("\0d", 2)}), std::string("abc\0d", 5));
}

// Random data over a small alphabet (so separators, runs of them and partial matches are
// common), random parts and separators: every split tiles the input, never cuts a record, and
// makes exactly min(parts, records) parts; a fixed split makes ceil(size / chunk_bytes) chunks.
TEST(SplittersPropertyTest, RandomInputs) {
  SeededRng rng(20240611);
  const std::string alphabet = "ab\n;;";
  const std::vector<std::string> separators = {"\n", ";", ";;", "a;", "\n\n", "ab\n"};
  for (int iteration = 0; iteration < 3000; ++iteration) {
    const size_t size = rng.Uniform(iteration % 10 == 0 ? 2000 : 60);
    std::string data;
    for (size_t i = 0; i < size; ++i) data += alphabet[rng.Uniform(alphabet.size())];
    const uint32_t parts = 1 + static_cast<uint32_t>(rng.Uniform(rng.Uniform(2) ? 8 : 200));
    const std::string& separator = separators[rng.Uniform(separators.size())];
    SCOPED_TRACE(mesh::StrCat("iteration ", iteration, " parts ", parts, " separator size ",
                              separator.size(), " data size ", data.size()));

    ASSERT_OK_AND_ASSIGN(Chunks records, SplitRecords(data, parts, separator));
    ExpectWholeRecords(data, records, separator);
    const size_t expected =
        data.empty() ? 1 : std::min<size_t>(parts, CountRecords(data, separator));
    EXPECT_EQ(records.size(), expected);
    // Splitting each chunk on its own sees the same records as the whole: no record spans a cut.
    size_t total_records = 0;
    for (std::string_view chunk : records) total_records += CountRecords(chunk, separator);
    EXPECT_EQ(total_records, CountRecords(data, separator));

    ASSERT_OK_AND_ASSIGN(Chunks lines, SplitLines(data, parts));
    ExpectWholeRecords(data, lines, "\n");

    const uint64_t chunk_bytes = 1 + rng.Uniform(50);
    ASSERT_OK_AND_ASSIGN(Chunks fixed, SplitFixed(data, chunk_bytes));
    ExpectTiles(data, fixed);
    EXPECT_EQ(fixed.size(), data.empty() ? 1 : (data.size() + chunk_bytes - 1) / chunk_bytes);
    for (size_t i = 0; i + 1 < fixed.size(); ++i) EXPECT_EQ(fixed[i].size(), chunk_bytes);
  }
}

// With many equal lines the parts are balanced to within one line.
TEST(SplittersPropertyTest, EqualLinesGiveBalancedParts) {
  SeededRng rng(7);
  for (int iteration = 0; iteration < 200; ++iteration) {
    const size_t lines = 1 + rng.Uniform(500);
    const size_t width = 1 + rng.Uniform(20);
    std::string data;
    for (size_t i = 0; i < lines; ++i) data += std::string(width - 1, 'x') + "\n";
    const uint32_t parts = 1 + static_cast<uint32_t>(rng.Uniform(lines));
    ASSERT_OK_AND_ASSIGN(Chunks chunks, SplitLines(data, parts));
    ASSERT_EQ(chunks.size(), parts);
    size_t min = SIZE_MAX;
    size_t max = 0;
    for (std::string_view c : chunks) {
      min = std::min(min, c.size() / width);
      max = std::max(max, c.size() / width);
    }
    EXPECT_LE(max - min, 1u) << "lines " << lines << " parts " << parts;
  }
}

TEST(FramesTest, RoundTripKeepsEmptyAndLargeChunksInOrder) {
  const std::string big(70000, 'z');
  const std::vector<std::string_view> chunks = {"", "a", big, std::string_view("\0\1", 2)};
  const std::string framed = EncodeFrames(chunks);
  EXPECT_EQ(framed.size(), 4 * 4 + 1 + big.size() + 2);
  ASSERT_OK_AND_ASSIGN(Chunks decoded, DecodeFrames(framed));
  EXPECT_EQ(decoded, chunks);
}

TEST(FramesTest, TruncatedOrEmptyStreamsAreRefusedNamingTheFrame) {
  const std::string framed = EncodeFrames({"hello", "world"});
  for (size_t cut = 1; cut < framed.size(); ++cut) {
    if (cut == 9) continue;  // the end of the first frame: a valid stream of one frame
    absl::StatusOr<Chunks> decoded = DecodeFrames(framed.substr(0, cut));
    ASSERT_FALSE(decoded.ok()) << cut;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(decoded.status().message()), ::testing::HasSubstr("frame "));
  }
  EXPECT_THAT(std::string(DecodeFrames("").status().message()), ::testing::HasSubstr("no frames"));
  // A length that claims more than is there.
  EXPECT_THAT(
      std::string(DecodeFrames(std::string("\xff\xff\xff\x7f", 4) + "x").status().message()),
      ::testing::HasSubstr("says 2147483647 bytes, 1 left"));
}

}  // namespace
}  // namespace mesh::job
