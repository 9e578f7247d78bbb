// JobFiles: a job's files on a node. MountsFor turns a spec's mounts into the images the
// sandbox preopens (wasm/fs_image.h), reading each manifest (verified against its CID) and each
// file from the blob store; StoreOutputTree turns the files a job left in its output directory
// into blobs and a directory manifest, whose CID is the job's files_cid.
//
// Memory. A mounted file's bytes come from ModuleLoader::InputPieces, as a job's stdin does:
// each blob is read and verified once per job (a CID used by several files is read once), and a
// blob read by a second job joins the loader's LRU cache, so a tree many jobs mount is held once
// and shared (the worker pool hands large pieces to workers as sealed shared memory). All the
// files of all the mounts together are bounded by `max_bytes` (the node's input limit), and each
// manifest by cas::ManifestLimits. Thread-safe (the store and the loader are).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mesh/cas/blob_store.h"
#include "mesh/cas/dir_manifest.h"
#include "mesh/job/job_mounts.h"
#include "mesh/node/module_loader.h"
#include "mesh/wasm/engine.h"
#include "mesh/wasm/fs_image.h"

namespace mesh::node {

// The images of `mounts`, in the spec's order; file mounts that share a directory become one
// read-only image of that directory, at the place of the first. A missing blob is NotFound
// naming its CID (and the mount and path it belongs to).
absl::StatusOr<std::vector<wasm::FsMount>> MountsFor(cas::BlobStore& blobs, ModuleLoader& loader,
                                                     const std::vector<job::JobMount>& mounts,
                                                     uint64_t max_bytes);

// Stores each file as a raw blob and the tree as a manifest (directories the job did not list
// are added); returns the manifest's CID. Paths that are not relative and normalised are
// refused (InvalidArgument): the tree comes from the sandbox, but is checked as any tree is.
absl::StatusOr<cas::Cid> StoreOutputTree(cas::BlobStore& blobs,
                                         const std::vector<wasm::OutputFile>& files);

// Every blob the mounts need that is not yet in `blobs`: each mount's CID, and the files of each
// manifest already there. A caller that fetches these and asks again gets the rest (a
// manifest's files once the manifest is here); an empty answer means the job can run.
absl::StatusOr<std::vector<std::string>> MissingMountBlobs(cas::BlobStore& blobs,
                                                           const std::vector<std::string>& cids);

}  // namespace mesh::node
