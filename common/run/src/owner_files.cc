#include "entrenar/run/owner_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <system_error>
#include <thread>

namespace entrenar::run {
namespace {

// The owner's supplementary groups (its primary group when it has no passwd entry).
std::vector<gid_t> GroupsOf(const Owner& o) {
  std::vector<gid_t> groups = {o.gid};
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(o.uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return groups;
  int n = 64;
  groups.assign(static_cast<std::size_t>(n), 0);
  if (getgrouplist(pw.pw_name, o.gid, groups.data(), &n) < 0) {
    groups.assign(static_cast<std::size_t>(n), 0);
    if (getgrouplist(pw.pw_name, o.gid, groups.data(), &n) < 0) return {o.gid};
  }
  groups.resize(static_cast<std::size_t>(n));
  return groups;
}

// Takes the owner's filesystem identity on this thread only: setfsuid and setfsgid are per
// thread, and so is the raw setgroups system call (glibc's wrapper would change every thread).
bool BecomeOnThisThread(const Owner& o, const std::vector<gid_t>& groups) {
  if (syscall(SYS_setgroups, groups.size(), groups.data()) != 0) return false;
  setfsgid(o.gid);
  setfsuid(o.uid);
  // setfsuid and setfsgid report the previous id, not failure: ask again.
  return static_cast<uid_t>(setfsuid(static_cast<uid_t>(-1))) == o.uid &&
         static_cast<gid_t>(setfsgid(static_cast<gid_t>(-1))) == o.gid;
}

// Runs `fn` with the owner's rights: on a thread of its own when this process is root (that
// thread's identity ends with it), directly otherwise.
Status AsOwner(const Owner& o, const std::function<Status()>& fn) {
  if (geteuid() != 0 || o.uid == 0) return fn();
  const std::vector<gid_t> groups = GroupsOf(o);
  Status result = Internal("not run");
  try {
    std::thread t([&] {
      result = BecomeOnThisThread(o, groups)
                   ? fn()
                   : Internal("cannot take the identity of uid " + std::to_string(o.uid) + ": " +
                              std::strerror(errno));
    });
    t.join();
  } catch (const std::system_error& e) {
    return Internal(std::string("cannot start a thread: ") + e.what());
  }
  return result;
}

Status FromErrno(int err, const std::string& what, const std::string& path) {
  const std::string m = "cannot " + what + " " + path + ": ";
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return NotFound(m + std::strerror(err));
    case EACCES:
    case EPERM:
      return PermissionDenied(m + "the job's owner may not (" + std::strerror(err) + ")");
    case ELOOP:
      return FailedPrecondition(m + "it is a symbolic link");
    default:
      return FailedPrecondition(m + std::strerror(err));
  }
}

// Opens `path` for reading without following a final symlink or blocking on a FIFO, and checks
// that it is a regular file. Returns the descriptor (the caller closes it).
Result<int> OpenRegular(const std::string& path, struct stat* st) {
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return FromErrno(errno, "open", path);
  if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
    close(fd);
    return FailedPrecondition("cannot read " + path + ": it is not a regular file");
  }
  return fd;
}

}  // namespace

Owner OwnerFor(uid_t uid, gid_t gid) {
  Owner o{uid, gid};
  if (o.gid != 0 || o.uid == 0) return o;
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  // No passwd entry: group 65534 (nogroup) rather than root's.
  o.gid = getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found ? pw.pw_gid : 65534;
  return o;
}

Result<std::string> ReadAsOwner(const Owner& owner, const std::string& path, std::int64_t offset,
                                std::size_t max_bytes) {
  std::string out;
  const Status s = AsOwner(owner, [&]() -> Status {
    struct stat st {};
    ENTRENAR_ASSIGN_OR_RETURN(const int fd, OpenRegular(path, &st));
    const std::int64_t left = std::max<std::int64_t>(0, st.st_size - offset);
    out.resize(std::min<std::size_t>(max_bytes, static_cast<std::size_t>(left)));
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = pread(fd, out.data() + done, out.size() - done,
                              static_cast<off_t>(offset + static_cast<std::int64_t>(done)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // the file shrank, or an error: what was read stands
      done += static_cast<std::size_t>(n);
    }
    out.resize(done);
    close(fd);
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

Result<std::int64_t> SizeAsOwner(const Owner& owner, const std::string& path) {
  std::int64_t size = 0;
  const Status s = AsOwner(owner, [&]() -> Status {
    struct stat st {};
    ENTRENAR_ASSIGN_OR_RETURN(const int fd, OpenRegular(path, &st));
    close(fd);
    size = st.st_size;
    return OkStatus();
  });
  if (!s.ok()) return s;
  return size;
}

Result<std::vector<std::string>> ListAsOwner(const Owner& owner, const std::string& path,
                                             std::size_t max_entries) {
  std::vector<std::string> names;
  const Status s = AsOwner(owner, [&]() -> Status {
    const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return FromErrno(errno, "list", path);
    DIR* dir = fdopendir(fd);
    if (!dir) {
      close(fd);
      return FromErrno(errno, "list", path);
    }
    while (const dirent* e = readdir(dir)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      if (names.size() >= max_entries) break;
      names.push_back(name);
    }
    closedir(dir);
    return OkStatus();
  });
  if (!s.ok()) return s;
  return names;
}

std::vector<std::int64_t> CheckpointStepsAsOwner(const Owner& owner, const Layout& run) {
  std::vector<std::int64_t> steps;
  (void)AsOwner(owner, [&]() -> Status {
    const int fd = open(run.Checkpoints().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR* dir = fd < 0 ? nullptr : fdopendir(fd);
    if (!dir) {
      if (fd >= 0) close(fd);
      return OkStatus();
    }
    struct stat st {};
    while (const dirent* e = readdir(dir)) {
      const std::optional<std::int64_t> step = Layout::ParseCheckpointName(e->d_name);
      const std::string state = Layout::CheckpointState(run.Checkpoint(step.value_or(0)));
      if (step && lstat(state.c_str(), &st) == 0 && S_ISREG(st.st_mode)) steps.push_back(*step);
      if (steps.size() >= 100000) break;
    }
    closedir(dir);
    return OkStatus();
  });
  std::sort(steps.begin(), steps.end());
  return steps;
}

bool ExistsAsOwner(const Owner& owner, const std::string& path) {
  return AsOwner(owner,
                 [&]() -> Status {
                   struct stat st {};
                   if (lstat(path.c_str(), &st) != 0) return FromErrno(errno, "look at", path);
                   return OkStatus();
                 })
      .ok();
}

}  // namespace entrenar::run
