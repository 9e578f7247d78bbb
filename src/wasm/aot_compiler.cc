#include "aot_compiler.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "mesh/common/file_util.h"
#include "mesh/common/status_macros.h"
#include "mesh/common/strings.h"

extern char** environ;

namespace mesh::wasm::aot {
namespace {

std::vector<std::string> SplitWords(std::string_view text) {
  std::vector<std::string> words;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = text.find_first_not_of(" \t", pos);
    if (start == std::string_view::npos) break;
    const size_t end = text.find_first_of(" \t", start);
    words.emplace_back(text.substr(start, end - start));
    pos = end == std::string_view::npos ? text.size() : end;
  }
  return words;
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string ResolveOnPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return IsExecutableFile(name) ? name : "";
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + name;
    if (IsExecutableFile(candidate)) return candidate;
    if (colon == std::string_view::npos) return "";
    dirs.remove_prefix(colon + 1);
  }
}

// The last `max` bytes of a compiler log, so an error shows the message that matters.
std::string LogTail(const std::filesystem::path& log, size_t max) {
  auto text = ReadFileToString(log, 64 << 20);
  if (!text.ok()) return "";
  std::string tail = text->size() > max ? "..." + text->substr(text->size() - max) : *text;
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return tail;
}

}  // namespace

absl::StatusOr<int> RunCommand(const std::vector<std::string>& argv,
                               const std::filesystem::path& log) {
  MESH_ASSIGN_OR_RETURN(ScopedFd log_fd,
                        OpenFile(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log_fd.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, log_fd.get(), 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return ErrnoToStatus(err, mesh::StrCat("starting ", argv[0]));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoToStatus(errno, mesh::StrCat("waiting for ", argv[0]));
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

absl::StatusOr<CCompiler> CCompiler::Find(std::string_view command) {
  std::string text(command);
  if (text.empty()) {
    const char* cc = std::getenv("CC");
    text = cc && *cc ? cc : "cc";
  }
  std::vector<std::string> argv = SplitWords(text);
  if (argv.empty()) {
    return absl::FailedPreconditionError("the C compiler command is empty; set CC or install gcc");
  }
  const std::string resolved = ResolveOnPath(argv[0]);
  if (resolved.empty()) {
    return absl::FailedPreconditionError(
        mesh::StrCat("C compiler '", argv[0],
                     "' not found on PATH; install gcc (apt install gcc), set CC, "
                     "or use --engine interp"));
  }
  argv[0] = resolved;
  return CCompiler(std::move(argv));
}

const std::vector<std::string>& CCompiler::Flags() {
  // -fvisibility=hidden: only the glue's mesh_aot_* symbols are exported, so modules loaded side
  // by side never interpose each other, and gcc may inline freely. -w: wasm2c output is noisy,
  // and only a failure's output is shown.
  static const auto* flags = new std::vector<std::string>{
      "-shared", "-fPIC", "-O2", "-ffp-contract=off", "-fno-fast-math", "-fvisibility=hidden",
      "-w"};
  return *flags;
}

std::string CCompiler::command_line() const {
  std::string out;
  for (const std::string& a : argv_) out += (out.empty() ? "" : " ") + a;
  return out;
}

absl::StatusOr<std::string> CCompiler::Version() const {
  std::error_code ec;
  std::string dir_template =
      (std::filesystem::temp_directory_path(ec) / "mesh-cc-version-XXXXXX").string();
  if (::mkdtemp(dir_template.data()) == nullptr) {
    return ErrnoToStatus(errno, "creating a temp directory for `cc --version`");
  }
  const std::filesystem::path log = std::filesystem::path(dir_template) / "version.txt";
  std::vector<std::string> argv = argv_;
  argv.push_back("--version");
  auto rc = RunCommand(argv, log);
  auto text = ReadFileToString(log, 1 << 20);
  std::filesystem::remove_all(dir_template, ec);
  if (!rc.ok()) return rc.status();
  if (*rc != 0 || !text.ok() || text->empty()) {
    return absl::FailedPreconditionError(mesh::StrCat("C compiler '", command_line(),
                                                      " --version' failed (exit ", *rc,
                                                      "); check the installation or set CC"));
  }
  return text->substr(0, text->find('\n'));
}

absl::Status CCompiler::CompileSharedObject(const std::vector<std::filesystem::path>& sources,
                                            const std::filesystem::path& include_dir,
                                            const std::filesystem::path& output) const {
  std::vector<std::string> argv = argv_;
  argv.insert(argv.end(), Flags().begin(), Flags().end());
  argv.push_back("-I" + include_dir.string());
  argv.push_back("-o");
  argv.push_back(output.string());
  for (const auto& s : sources) argv.push_back(s.string());
  const std::filesystem::path log = output.string() + ".log";
  MESH_ASSIGN_OR_RETURN(int rc, RunCommand(argv, log));
  if (rc != 0) {
    return absl::InternalError(mesh::StrCat("C compiler '", command_line(), "' failed (exit ", rc,
                                            ") on the module's wasm2c output: ", LogTail(log, 2000),
                                            "; use --engine interp to run this module"));
  }
  return absl::OkStatus();
}

}  // namespace mesh::wasm::aot
