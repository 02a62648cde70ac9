#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/run/layout.h"

namespace entrenar::run {

// The user a run directory belongs to: entrenard looks into it with this user's rights only.
struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;
};

// The owner `uid` with group `gid`, or its primary group (passwd) when `gid` is 0 and `uid` is
// not root: a job submitted without a group reads with its user's group, never root's.
Owner OwnerFor(uid_t uid, gid_t gid);

// Reads files of a run directory as its owner would, for a daemon that may run as root.
//
// Each call runs on a short-lived thread whose filesystem identity (fsuid, fsgid and
// supplementary groups; per thread on Linux) is the owner's, so a path through a symlink or a
// directory the owner could not read is refused by the kernel as it would be for the owner.
// The last component is opened with O_NOFOLLOW | O_NONBLOCK and must be a regular file (a FIFO,
// a device or a symlink is refused without blocking), and reads are bounded in bytes.
// A daemon that is not root reads with its own identity, with the same checks.
// Every error is a Status naming the path; nothing throws. Thread-safe (no shared state).

// At most `max_bytes` from byte `offset` of the regular file `path`. kNotFound when it does not
// exist, kPermissionDenied when the owner may not read it, kFailedPrecondition when it is not a
// regular file (a symlink, FIFO, device or directory).
Result<std::string> ReadAsOwner(const Owner& owner, const std::string& path, std::int64_t offset,
                                std::size_t max_bytes);
// The size of the regular file `path`; errors as ReadAsOwner.
Result<std::int64_t> SizeAsOwner(const Owner& owner, const std::string& path);
// The names in the directory `path` (not through a symlink), at most `max_entries`; errors as
// ReadAsOwner (kFailedPrecondition for a non-directory).
Result<std::vector<std::string>> ListAsOwner(const Owner& owner, const std::string& path,
                                             std::size_t max_entries);
// The steps of the run's complete checkpoints (checkpoints/step-N holding its state file),
// ascending; empty when there are none or the owner cannot list them.
std::vector<std::int64_t> CheckpointStepsAsOwner(const Owner& owner, const Layout& run);
// Whether `path` exists for the owner (lstat: a dangling symlink exists).
bool ExistsAsOwner(const Owner& owner, const std::string& path);

}  // namespace entrenar::run
