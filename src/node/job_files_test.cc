#include "mesh/node/job_files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "compute_test_util.h"
#include "mesh/cas/dir_tree.h"
#include "mesh/common/strings.h"
#include "mesh/common/testing.h"
#include "mesh/node/compute_service.h"

namespace mesh::node {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

class JobFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(
        blobs_, cas::BlobStore::Open({.root = tmp_.path() / "store", .durable = false}, clock_));
  }
  // A tree: a/x.txt "one", a/y.txt "one" (the same blob), b -> a/x.txt, empty/.
  cas::Cid SampleTree() {
    const fs::path src = tmp_.path() / "src";
    Write(src / "a" / "x.txt", "one");
    Write(src / "a" / "y.txt", "one");
    fs::create_directories(src / "empty");
    fs::create_symlink("a/x.txt", src / "b");
    absl::StatusOr<cas::ImportResult> r = cas::ImportDirectory(*blobs_, src);
    EXPECT_OK(r.status());
    return r->manifest_cid;
  }

  FakeClock clock_;
  ScopedTempDir tmp_;
  std::unique_ptr<cas::BlobStore> blobs_;
};

TEST_F(JobFilesTest, MountsBecomeImagesSharingBlobs) {
  const cas::Cid tree = SampleTree();
  ASSERT_OK_AND_ASSIGN(cas::Cid f1, blobs_->PutBytes("file one"));
  ASSERT_OK_AND_ASSIGN(cas::Cid f2, blobs_->PutBytes("file two"));
  ModuleLoader loader(blobs_.get(), 1 << 20, 1 << 20);
  const std::vector<job::JobMount> mounts = {{.cid = f2.ToString(), .path = "/in/z"},
                                             {.cid = tree.ToString(), .path = "/data"},
                                             {.cid = f1.ToString(), .path = "/in/a"}};
  ASSERT_OK_AND_ASSIGN(std::vector<wasm::FsMount> images,
                       MountsFor(*blobs_, loader, mounts, 1 << 20));
  ASSERT_EQ(images.size(), 2u);
  // The file mounts share their directory's image, at the place of the first, sorted.
  EXPECT_EQ(images[0].guest_path, "/in");
  EXPECT_TRUE(images[0].read_only);
  ASSERT_EQ(images[0].nodes.size(), 2u);
  EXPECT_EQ(images[0].nodes[0].path, "a");
  EXPECT_EQ(images[0].nodes[0].content.bytes, "file one");
  EXPECT_EQ(images[0].nodes[1].content.bytes, "file two");
  EXPECT_EQ(images[0].nodes[1].content.cid, f2.ToString());
  const wasm::FsMount& data = images[1];
  EXPECT_EQ(data.guest_path, "/data");
  std::vector<std::string> paths;
  for (const wasm::FsNode& n : data.nodes) paths.push_back(n.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"a", "a/x.txt", "a/y.txt", "b", "empty"}));
  EXPECT_EQ(data.nodes[0].kind, wasm::FsKind::kDirectory);
  EXPECT_EQ(data.nodes[1].content.bytes, "one");
  // One blob, held once however many files name it.
  EXPECT_EQ(data.nodes[1].content.bytes.data(), data.nodes[2].content.bytes.data());
  EXPECT_EQ(data.nodes[3].kind, wasm::FsKind::kSymlink);
  EXPECT_EQ(data.nodes[3].content.bytes, "a/x.txt");
  // A writable mount is a writable image.
  ASSERT_OK_AND_ASSIGN(
      images, MountsFor(*blobs_, loader, {{.cid = tree.ToString(), .path = "/w", .writable = true}},
                        1 << 20));
  EXPECT_FALSE(images[0].read_only);
}

TEST_F(JobFilesTest, MissingBlobsAndLimitsAreNamed) {
  const cas::Cid tree = SampleTree();
  ModuleLoader loader(blobs_.get(), 1 << 20, 1 << 20);
  const cas::Cid absent = cas::Cid::Of("absent", cas::Codec::kDagJson);
  absl::StatusOr<std::vector<wasm::FsMount>> r =
      MountsFor(*blobs_, loader, {{.cid = absent.ToString(), .path = "/d"}}, 1 << 20);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(absent.ToString()), std::string::npos) << r.status();
  // A manifest whose file is gone.
  ASSERT_OK(blobs_->Delete(cas::Cid::Of("one")));
  r = MountsFor(*blobs_, loader, {{.cid = tree.ToString(), .path = "/d"}}, 1 << 20);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(cas::Cid::Of("one").ToString()), std::string::npos);
  EXPECT_NE(r.status().message().find("/d/a/x.txt"), std::string::npos) << r.status();
  ASSERT_OK(blobs_->PutBytes("one").status());
  r = MountsFor(*blobs_, loader, {{.cid = tree.ToString(), .path = "/d"}}, 2);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_NE(r.status().message().find("input limit of 2 bytes"), std::string::npos);
}

TEST_F(JobFilesTest, MissingMountBlobsListsWhatAFetchNeeds) {
  const cas::Cid tree = SampleTree();
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> none,
                       MissingMountBlobs(*blobs_, {tree.ToString()}));
  EXPECT_TRUE(none.empty());
  ASSERT_OK(blobs_->Delete(cas::Cid::Of("one")));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> files,
                       MissingMountBlobs(*blobs_, {tree.ToString()}));
  EXPECT_EQ(files, std::vector<std::string>{cas::Cid::Of("one").ToString()});
  ASSERT_OK(blobs_->Delete(tree));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> manifest,
                       MissingMountBlobs(*blobs_, {tree.ToString(), tree.ToString()}));
  EXPECT_EQ(manifest, std::vector<std::string>{tree.ToString()});
}

TEST_F(JobFilesTest, OutputTreeIsCanonicalAndComplete) {
  const std::vector<wasm::OutputFile> files = {
      {.path = "r/summary.txt", .kind = wasm::FsKind::kFile, .bytes = "sum=3\n"},
      {.path = "link", .kind = wasm::FsKind::kSymlink, .bytes = "r/summary.txt"},
      {.path = "e", .kind = wasm::FsKind::kDirectory}};
  ASSERT_OK_AND_ASSIGN(cas::Cid cid, StoreOutputTree(*blobs_, files));
  ASSERT_OK_AND_ASSIGN(cas::DirManifest m, cas::GetManifest(*blobs_, cid));
  std::vector<std::string> paths;
  for (const cas::DirEntry& e : m.entries) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"e", "link", "r", "r/summary.txt"}));  // "r" added
  ASSERT_OK_AND_ASSIGN(std::string bytes, blobs_->Get(*m.entries[3].cid));
  EXPECT_EQ(bytes, "sum=3\n");
  // The same files in another order: the same tree.
  ASSERT_OK_AND_ASSIGN(cas::Cid again, StoreOutputTree(*blobs_, {files[2], files[0], files[1]}));
  EXPECT_EQ(again, cid);
  ASSERT_OK_AND_ASSIGN(cas::Cid empty, StoreOutputTree(*blobs_, {}));
  EXPECT_EQ(empty,
            cas::Cid::Of(R"({"entries":[],"type":"mesh/dir","version":1})", cas::Codec::kDagJson));
  EXPECT_FALSE(StoreOutputTree(*blobs_, {{.path = "../x", .bytes = "x"}}).ok());
  EXPECT_FALSE(StoreOutputTree(*blobs_, {{.path = "x"}, {.path = "x"}}).ok());
}

// Stands in for the sandbox: records what a job was given and writes, in its output directory,
// one file per mounted file (its path and size), as examples/dir_sum.c does for real.
class FilesRunner final : public JobRunner {
 public:
  absl::StatusOr<wasm::RunResult> Run(exec::RunRequest request) override {
    absl::MutexLock lock(&mu_);
    mounts_ = request.input.mounts;
    output_dir_ = request.input.output_dir;
    fs_bytes_ = request.limits->fs_bytes;
    wasm::RunResult result;
    result.report.fuel_used = 10;
    std::string summary;
    for (const wasm::FsMount& m : mounts_) {
      for (const wasm::FsNode& n : m.nodes) {
        if (n.kind == wasm::FsKind::kFile) {
          summary += mesh::StrCat(m.guest_path, "/", n.path, " ", n.content.bytes.size(), "\n");
        }
      }
    }
    if (!output_dir_.empty()) {
      result.files = {{.path = "r", .kind = wasm::FsKind::kDirectory},
                      {.path = "r/summary.txt", .kind = wasm::FsKind::kFile, .bytes = summary}};
    }
    return result;
  }
  bool Cancel(uint64_t) override { return false; }
  std::string engine() const override { return "fake"; }

  absl::Mutex mu_;
  std::vector<wasm::FsMount> mounts_ ABSL_GUARDED_BY(mu_);
  std::string output_dir_ ABSL_GUARDED_BY(mu_);
  uint64_t fs_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

class JobFilesServiceTest : public JobFilesTest {
 protected:
  void SetUp() override {
    JobFilesTest::SetUp();
    ASSERT_OK_AND_ASSIGN(jobs_, JobStore::Open(tmp_.path() / "jobs.db"));
    ASSERT_OK_AND_ASSIGN(module_, blobs_->PutBytes("module"));
    service_ = std::make_unique<ComputeService>(
        ComputeOptions{},
        NodeEnv{&clock_, &rng_, &key_, blobs_.get(), jobs_.get(), &events_, &metrics_, &runner_});
    ASSERT_OK(service_->Start());
  }
  void TearDown() override { service_.reset(); }

  SeededRng rng_{7};
  crypto::KeyPair key_ = crypto::KeyPair::Generate();
  std::unique_ptr<JobStore> jobs_;
  EventBus events_;
  MetricsRegistry metrics_;
  FilesRunner runner_;
  cas::Cid module_ = cas::Cid::Of("");
  std::unique_ptr<ComputeService> service_;
};

TEST_F(JobFilesServiceTest, AJobSeesItsMountsAndKeepsItsOutputTree) {
  const cas::Cid tree = SampleTree();
  SubmitRequest request;
  request.spec.module = module_.ToString();
  request.spec.mounts = {{.cid = tree.ToString(), .path = "/data"}};
  request.spec.output_dir = "/out";
  request.spec.requirements.storage_bytes = 4096;
  ASSERT_OK_AND_ASSIGN(SubmitResult submitted, service_->Submit(std::move(request)));
  const JobRecord done = computetest::AwaitEnd(*service_, submitted.job.id);
  ASSERT_EQ(done.state, job::JobState::kSucceeded) << done.reason;
  {
    absl::MutexLock lock(&runner_.mu_);
    ASSERT_EQ(runner_.mounts_.size(), 1u);
    EXPECT_EQ(runner_.mounts_[0].guest_path, "/data");
    EXPECT_EQ(runner_.output_dir_, "/out");
    EXPECT_EQ(runner_.fs_bytes_, 4096u);  // the storage requirement bounds what it writes
  }
  ASSERT_FALSE(done.files_cid.empty());
  ASSERT_OK_AND_ASSIGN(cas::Cid files, cas::Cid::Parse(done.files_cid));
  ASSERT_OK_AND_ASSIGN(cas::DirManifest out, cas::GetManifest(*blobs_, files));
  ASSERT_EQ(out.entries.size(), 2u);
  ASSERT_OK_AND_ASSIGN(std::string summary, blobs_->Get(*out.entries[1].cid));
  EXPECT_EQ(summary, "/data/a/x.txt 3\n/data/a/y.txt 3\n");
  EXPECT_NE(done.report_json.find(done.files_cid), std::string::npos);
  // Stored: a read from the database (not the service's cache) has it too.
  ASSERT_OK_AND_ASSIGN(JobRecord stored, jobs_->Get(done.id));
  EXPECT_EQ(stored.files_cid, done.files_cid);
}

TEST_F(JobFilesServiceTest, AMissingMountFailsTheSubmitOrTheRunNamingTheBlob) {
  const cas::Cid absent = cas::Cid::Of("absent", cas::Codec::kDagJson);
  SubmitRequest request;
  request.spec.module = module_.ToString();
  request.spec.mounts = {{.cid = absent.ToString(), .path = "/data"}};
  absl::StatusOr<SubmitResult> refused = service_->Submit(request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find(absent.ToString()), std::string::npos);

  const cas::Cid tree = SampleTree();
  ASSERT_OK(blobs_->Delete(cas::Cid::Of("one")));
  request.spec.mounts = {{.cid = tree.ToString(), .path = "/data"}};
  ASSERT_OK_AND_ASSIGN(SubmitResult submitted, service_->Submit(request));
  const JobRecord done = computetest::AwaitEnd(*service_, submitted.job.id);
  EXPECT_EQ(done.state, job::JobState::kFailed);
  EXPECT_NE(done.reason.find(cas::Cid::Of("one").ToString()), std::string::npos) << done.reason;
  EXPECT_TRUE(done.files_cid.empty());
}

TEST_F(JobFilesServiceTest, AJobWithoutFilesHasNoTree) {
  SubmitRequest request;
  request.spec.module = module_.ToString();
  ASSERT_OK_AND_ASSIGN(SubmitResult submitted, service_->Submit(std::move(request)));
  const JobRecord done = computetest::AwaitEnd(*service_, submitted.job.id);
  EXPECT_EQ(done.state, job::JobState::kSucceeded);
  EXPECT_TRUE(done.files_cid.empty());
  EXPECT_EQ(done.report_json.find("files_cid"), std::string::npos);
}

}  // namespace
}  // namespace mesh::node
