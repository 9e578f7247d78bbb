#include "mesh/exec/protocol.h"

#include <gtest/gtest.h>

#include "mesh/common/testing.h"
#include "mesh/exec/frame.h"

namespace mesh::exec {
namespace {

std::string_view Body(const std::string& frame) {
  return std::string_view(frame).substr(kFrameHeaderBytes);
}

wasm::InstrumentedModule SampleModule() {
  wasm::InstrumentedModule m;
  m.wasm = std::string("\0asm\x01\0\0\0", 8);
  m.imports.push_back({"wasi_snapshot_preview1",
                       "fd_write",
                       {wasm::ValType::kI32, wasm::ValType::kI64},
                       {wasm::ValType::kI32}});
  m.initial_memory_bytes = 65536;
  m.code_units = 42;
  return m;
}

wasm::JobInput SampleInput() {
  wasm::JobInput in;
  in.stdin_bytes = std::string("in\0put", 6);
  in.args = {"a", "", "c"};
  in.env = {{"K", "V"}, {"EMPTY", ""}};
  for (size_t i = 0; i < in.seed.size(); ++i) in.seed[i] = static_cast<uint8_t>(i * 7);
  in.deterministic = false;
  return in;
}

TEST(ProtocolTest, RunRequestRoundTrips) {
  const wasm::InstrumentedModule module = SampleModule();
  wasm::Limits limits;
  limits.fuel = 123;
  limits.memory_bytes = 456;
  limits.wall_time = absl::Milliseconds(1500);
  limits.max_output_bytes = 7;
  limits.max_stderr_bytes = 8;
  ASSERT_OK_AND_ASSIGN(std::string frame, EncodeRun("bafyid", &module, SampleInput(), limits, 9));
  ASSERT_OK_AND_ASSIGN(RunMessage m, DecodeRun(Body(frame)));
  EXPECT_EQ(m.module_id, "bafyid");
  ASSERT_TRUE(m.module.has_value());
  EXPECT_EQ(m.module->wasm, module.wasm);
  ASSERT_EQ(m.module->imports.size(), 1u);
  EXPECT_EQ(m.module->imports[0].name, "fd_write");
  EXPECT_EQ(m.module->imports[0].params, module.imports[0].params);
  EXPECT_EQ(m.module->imports[0].results, module.imports[0].results);
  EXPECT_EQ(m.module->initial_memory_bytes, 65536u);
  EXPECT_EQ(m.module->code_units, 42u);
  const wasm::JobInput want = SampleInput();
  EXPECT_EQ(m.input.stdin_bytes, want.stdin_bytes);
  EXPECT_EQ(m.input.args, want.args);
  EXPECT_EQ(m.input.env, want.env);
  EXPECT_EQ(m.input.seed, want.seed);
  EXPECT_FALSE(m.input.deterministic);
  EXPECT_EQ(m.limits.fuel, 123u);
  EXPECT_EQ(m.limits.memory_bytes, 456u);
  EXPECT_EQ(m.limits.wall_time, absl::Milliseconds(1500));
  EXPECT_EQ(m.limits.max_output_bytes, 7u);
  EXPECT_EQ(m.limits.max_stderr_bytes, 8u);
  EXPECT_EQ(m.cpu_seconds, 9u);
}

TEST(ProtocolTest, RunRequestCarriesStdinPiecesInlineOrShared) {
  wasm::JobInput in;
  in.stdin_bytes = "head";
  in.stdin_pieces = {wasm::StdinPiece::Owned("", "inline piece"),
                     wasm::StdinPiece::Owned("cid-cached", std::string(100, 'c')),
                     wasm::StdinPiece::Owned("cid-fd", std::string(50, 'f'))};
  ASSERT_OK_AND_ASSIGN(
      std::string frame,
      EncodeRun("id", nullptr, in, {}, 0, wasm::EngineKind::kAuto,
                {PieceSend::kInline, PieceSend::kShared, PieceSend::kSharedWithFd}));
  // Shared pieces travel by CID and size only.
  EXPECT_LT(frame.size(), 200u);
  ASSERT_OK_AND_ASSIGN(RunMessage m, DecodeRun(Body(frame)));
  EXPECT_EQ(m.input.stdin_bytes, "head");
  ASSERT_EQ(m.input.stdin_pieces.size(), 3u);
  EXPECT_EQ(m.input.stdin_pieces[0].bytes, "inline piece");
  EXPECT_EQ(m.input.stdin_pieces[1].cid, "cid-cached");
  EXPECT_EQ(m.input.stdin_pieces[2].cid, "cid-fd");
  ASSERT_EQ(m.shared.size(), 2u);
  EXPECT_EQ(m.shared[0].index, 1u);
  EXPECT_EQ(m.shared[0].size, 100u);
  EXPECT_FALSE(m.shared[0].with_fd);
  EXPECT_EQ(m.shared[1].index, 2u);
  EXPECT_EQ(m.shared[1].size, 50u);
  EXPECT_TRUE(m.shared[1].with_fd);
  // Without a plan every piece goes inline.
  ASSERT_OK_AND_ASSIGN(frame, EncodeRun("id", nullptr, in, {}, 0));
  ASSERT_OK_AND_ASSIGN(m, DecodeRun(Body(frame)));
  EXPECT_TRUE(m.shared.empty());
  EXPECT_EQ(wasm::StdinOf(m.input), wasm::StdinOf(in));
}

TEST(ProtocolTest, RunRequestRefusesBadPieces) {
  wasm::JobInput in;
  in.stdin_pieces = {wasm::StdinPiece::Owned("", "x")};
  // A plan of the wrong length, and a shared piece without a CID.
  EXPECT_FALSE(EncodeRun("id", nullptr, in, {}, 0, wasm::EngineKind::kAuto,
                         {PieceSend::kInline, PieceSend::kInline})
                   .ok());
  EXPECT_FALSE(
      EncodeRun("id", nullptr, in, {}, 0, wasm::EngineKind::kAuto, {PieceSend::kShared}).ok());
  // An unknown send kind is refused by name.
  ASSERT_OK_AND_ASSIGN(std::string frame, EncodeRun("id", nullptr, in, {}, 0));
  const size_t at = frame.find(std::string("\x01\0\0\0\0", 5), kFrameHeaderBytes);
  ASSERT_NE(at, std::string::npos);
  frame[at + 4] = 7;  // the piece's send byte
  absl::StatusOr<RunMessage> bad = DecodeRun(Body(frame));
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("piece.send"), std::string::npos) << bad.status();
}

TEST(ProtocolTest, NeedInputRoundTrips) {
  const std::string frame = EncodeNeedInput("cid-x");
  ASSERT_OK_AND_ASSIGN(std::string cid, DecodeNeedInput(Body(frame)));
  EXPECT_EQ(cid, "cid-x");
}

TEST(ProtocolTest, RunRequestWithoutModule) {
  ASSERT_OK_AND_ASSIGN(std::string frame, EncodeRun("id", nullptr, {}, {}, 0));
  ASSERT_OK_AND_ASSIGN(RunMessage m, DecodeRun(Body(frame)));
  EXPECT_FALSE(m.module.has_value());
  EXPECT_TRUE(m.input.deterministic);
}

TEST(ProtocolTest, RunRequestNamesItsEngine) {
  ASSERT_OK_AND_ASSIGN(std::string frame,
                       EncodeRun("id", nullptr, {}, {}, 0, wasm::EngineKind::kInterp));
  ASSERT_OK_AND_ASSIGN(RunMessage m, DecodeRun(Body(frame)));
  EXPECT_EQ(m.engine, wasm::EngineKind::kInterp);
  ASSERT_OK_AND_ASSIGN(frame, EncodeRun("id", nullptr, {}, {}, 0));
  ASSERT_OK_AND_ASSIGN(m, DecodeRun(Body(frame)));
  EXPECT_EQ(m.engine, wasm::EngineKind::kAuto);
  // An unknown engine byte (the last field) is refused by name.
  frame.back() = 9;
  EXPECT_FALSE(DecodeRun(Body(frame)).ok());
}

TEST(ProtocolTest, BuildMessagesRoundTrip) {
  ASSERT_OK_AND_ASSIGN(std::string frame, EncodeInstrument(std::string("\0asm\x01", 5)));
  ASSERT_OK_AND_ASSIGN(std::string wasm, DecodeInstrument(Body(frame)));
  EXPECT_EQ(wasm, std::string("\0asm\x01", 5));
  wasm::InstrumentedModule module = SampleModule();
  module.function_names = {"", "main"};
  ASSERT_OK_AND_ASSIGN(frame, EncodeInstrumented(module));
  ASSERT_OK_AND_ASSIGN(wasm::InstrumentedModule back, DecodeInstrumented(Body(frame)));
  EXPECT_EQ(back.wasm, module.wasm);
  EXPECT_EQ(back.imports.size(), 1u);
  EXPECT_EQ(back.code_units, 42u);
  EXPECT_EQ(back.function_names, module.function_names);
  ASSERT_OK_AND_ASSIGN(frame, EncodeCompile(module));
  ASSERT_OK_AND_ASSIGN(back, DecodeCompile(Body(frame)));
  EXPECT_EQ(back.function_names, module.function_names);
  EXPECT_FALSE(DecodeInstrumented(Body(frame)).ok());  // a compile request is not an answer
  EXPECT_EQ(PeekType(Body(EncodeCompiled())).value(), MessageType::kCompiled);
  for (size_t cut = 1; cut + 1 < Body(frame).size(); cut += 7) {
    EXPECT_FALSE(DecodeCompile(Body(frame).substr(0, cut)).ok()) << cut;
  }
}

TEST(ProtocolTest, ResultRoundTrips) {
  wasm::RunResult r;
  r.report.outcome = wasm::Outcome::kStackOverflow;
  r.report.message = "deep";
  r.report.trap_kind = "call stack exhausted";
  r.report.exit_code = -3;
  r.report.fuel_used = 11;
  r.report.fuel_limit = 22;
  r.report.peak_memory_bytes = 33;
  r.report.wall_time = absl::Microseconds(44);
  r.report.cpu_time = absl::Microseconds(55);
  r.report.engine = "interp";
  r.report.stderr_tail = std::string("\xff\xfe not utf-8", 12);
  r.report.progress = {{50, "half", 5}, {100, "done", 9}};
  r.report.checkpoints = {{24, "abcd", 7}};
  r.report.partials = {{0, 3, 1}, {3, 4, 2}};
  r.output = "out";
  r.partials = "1234567";
  r.checkpoint = std::string(24, 'c');
  ASSERT_OK_AND_ASSIGN(std::string frame, EncodeResult(r));
  ASSERT_OK_AND_ASSIGN(wasm::RunResult got, DecodeResult(Body(frame)));
  EXPECT_EQ(got.report.outcome, wasm::Outcome::kStackOverflow);
  EXPECT_EQ(got.report.message, "deep");
  EXPECT_EQ(got.report.trap_kind, r.report.trap_kind);
  EXPECT_EQ(got.report.exit_code, -3);
  EXPECT_EQ(got.report.fuel_used, 11u);
  EXPECT_EQ(got.report.fuel_limit, 22u);
  EXPECT_EQ(got.report.peak_memory_bytes, 33u);
  EXPECT_EQ(got.report.wall_time, absl::Microseconds(44));
  EXPECT_EQ(got.report.cpu_time, absl::Microseconds(55));
  EXPECT_EQ(got.report.stderr_tail, r.report.stderr_tail);
  ASSERT_EQ(got.report.progress.size(), 2u);
  EXPECT_EQ(got.report.progress[1].message, "done");
  EXPECT_EQ(got.report.progress[1].fuel, 9u);
  ASSERT_EQ(got.report.checkpoints.size(), 1u);
  EXPECT_EQ(got.report.checkpoints[0].sha256_hex, "abcd");
  ASSERT_EQ(got.report.partials.size(), 2u);
  EXPECT_EQ(got.report.partials[1].offset, 3u);
  EXPECT_EQ(got.output, "out");
  EXPECT_EQ(got.partials, "1234567");
  EXPECT_EQ(got.checkpoint, r.checkpoint);
}

TEST(ProtocolTest, SmallMessagesRoundTrip) {
  ASSERT_OK_AND_ASSIGN(Hello h, DecodeHello(Body(EncodeHello({.engine = "interp", .error = "x"}))));
  EXPECT_EQ(h.version, kProtocolVersion);
  EXPECT_EQ(h.engine, "interp");
  EXPECT_EQ(h.error, "x");
  ASSERT_OK_AND_ASSIGN(std::string id, DecodeNeedModule(Body(EncodeNeedModule("bafy"))));
  EXPECT_EQ(id, "bafy");
  ASSERT_OK_AND_ASSIGN(absl::Status e,
                       DecodeError(Body(EncodeError(absl::ResourceExhaustedError("full")))));
  EXPECT_TRUE(absl::IsResourceExhausted(e));
  EXPECT_EQ(e.message(), "full");
  ASSERT_OK_AND_ASSIGN(TestHook hook,
                       DecodeTestHook(Body(EncodeTestHook(TestHook::kCreateSocket))));
  EXPECT_EQ(hook, TestHook::kCreateSocket);
}

TEST(ProtocolTest, ProgressRoundTrips) {
  const std::string frame = EncodeProgress({.percent = 40, .message = "step 4", .fuel = 1234});
  ASSERT_OK_AND_ASSIGN(MessageType type, PeekType(Body(frame)));
  EXPECT_EQ(type, MessageType::kProgress);
  ASSERT_OK_AND_ASSIGN(wasm::ProgressRecord p, DecodeProgress(Body(frame)));
  EXPECT_EQ(p.percent, 40u);
  EXPECT_EQ(p.message, "step 4");
  EXPECT_EQ(p.fuel, 1234u);
  // What JobHost would never hand over is clamped and cut rather than made undecodable.
  ASSERT_OK_AND_ASSIGN(p, DecodeProgress(Body(EncodeProgress(
                              {.percent = 250, .message = std::string(1000, 'm'), .fuel = 1}))));
  EXPECT_EQ(p.percent, 100u);
  EXPECT_EQ(p.message, std::string(wasm::kMaxProgressMessageBytes, 'm'));
}

TEST(ProtocolTest, EveryTruncationOfAProgressReportIsRefusedByName) {
  const std::string frame = EncodeProgress({.percent = 10, .message = "step 1", .fuel = 99});
  const std::string_view body = Body(frame);
  for (size_t n = 0; n < body.size(); ++n) {
    absl::Status s = DecodeProgress(body.substr(0, n)).status();
    ASSERT_TRUE(absl::IsInvalidArgument(s)) << "prefix " << n;
    if (n > 0) {
      EXPECT_NE(s.message().find("malformed progress report"), absl::string_view::npos) << s;
    }
  }
}

TEST(ProtocolTest, OversizedProgressReportsAreRefused) {
  auto body = [](uint32_t percent, uint32_t claimed, size_t actual) {
    std::string b = "\x05";
    for (uint32_t v : {percent, claimed}) {
      for (int i = 0; i < 4; ++i) b += static_cast<char>((v >> (8 * i)) & 0xff);
    }
    b += std::string(actual, 'm');
    b += std::string(8, '\0');  // fuel
    return b;
  };
  ASSERT_OK(DecodeProgress(body(100, 256, 256)).status());
  // A message over the limit, even when the bytes are all there.
  absl::Status s = DecodeProgress(body(50, 257, 257)).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("'message' is 257 bytes, over the limit of 256"),
            absl::string_view::npos)
      << s;
  // A length that claims more than the frame holds.
  s = DecodeProgress(body(50, 0xffffffff, 3)).status();
  EXPECT_NE(s.message().find("'message' claims 4294967295 bytes"), absl::string_view::npos) << s;
  // A percent over 100.
  s = DecodeProgress(body(101, 0, 0)).status();
  EXPECT_NE(s.message().find("'percent' is 101"), absl::string_view::npos) << s;
  // Bytes after the last field.
  std::string frame = EncodeProgress({.percent = 1, .message = "x", .fuel = 2});
  frame += "junk";
  s = DecodeProgress(Body(frame)).status();
  EXPECT_NE(s.message().find("4 trailing bytes"), absl::string_view::npos) << s;
  // Another message type.
  EXPECT_FALSE(DecodeProgress(Body(EncodeNeedModule("x"))).ok());
}

TEST(ProtocolTest, EveryTruncationOfARequestIsRefusedByName) {
  const wasm::InstrumentedModule module = SampleModule();
  ASSERT_OK_AND_ASSIGN(std::string frame, EncodeRun("id", &module, SampleInput(), {}, 1));
  const std::string_view body = Body(frame);
  for (size_t n = 0; n < body.size(); ++n) {
    absl::Status s = DecodeRun(body.substr(0, n)).status();
    ASSERT_TRUE(absl::IsInvalidArgument(s)) << "prefix " << n;
    if (n > 0) {
      EXPECT_NE(s.message().find("malformed run request"), absl::string_view::npos) << s;
    }
  }
}

TEST(ProtocolTest, EveryTruncationOfAResultIsRefused) {
  wasm::RunResult r;
  r.report.progress = {{1, "p", 1}};
  r.report.checkpoints = {{1, "h", 1}};
  r.report.partials = {{0, 1, 1}};
  r.output = "o";
  ASSERT_OK_AND_ASSIGN(std::string frame, EncodeResult(r));
  const std::string_view body = Body(frame);
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(DecodeResult(body.substr(0, n)).ok()) << "prefix " << n;
  }
}

TEST(ProtocolTest, TrailingBytesAreRefused) {
  std::string frame = EncodeNeedModule("id");
  frame += "junk";
  absl::Status s = DecodeNeedModule(Body(frame)).status();
  EXPECT_NE(s.message().find("4 trailing bytes"), absl::string_view::npos) << s;
}

TEST(ProtocolTest, HostileCountsDoNotAllocate) {
  // A run request whose args count claims four billion entries.
  std::string body = "\x10";
  body += std::string("\x02\0\0\0id", 6);  // module_id
  body += '\0';                            // no module
  body += std::string("\0\0\0\0", 4);      // stdin
  // The same with the stdin pieces' count.
  absl::Status s = DecodeRun(body + "\xff\xff\xff\xff").status();
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("'stdin_pieces' claims 4294967295 elements"), absl::string_view::npos)
      << s;
  body += std::string("\0\0\0\0", 4);  // no stdin pieces
  body += "\xff\xff\xff\xff";          // args count
  s = DecodeRun(body).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(s.message().find("'args' claims 4294967295 elements"), absl::string_view::npos) << s;
}

TEST(ProtocolTest, UnknownTypesAndOutcomesAreRefused) {
  EXPECT_FALSE(PeekType("").ok());
  EXPECT_FALSE(PeekType("\x63").ok());
  EXPECT_FALSE(DecodeRun(Body(EncodeNeedModule("x"))).ok());  // wrong message type
  wasm::RunResult r;
  ASSERT_OK_AND_ASSIGN(std::string frame, EncodeResult(r));
  frame[kFrameHeaderBytes + 1] = 99;  // outcome
  absl::Status s = DecodeResult(Body(frame)).status();
  EXPECT_NE(s.message().find("unknown outcome 99"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace mesh::exec
