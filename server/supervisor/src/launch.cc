#include "launch.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "entrenar/base/users.h"

extern char** environ;

namespace entrenar::supervisor {
namespace {

// What failed in the child, sent to the parent through a close-on-exec pipe.
struct ChildError {
  int step = 0;  // see kSteps
  int index = 0;
  int err = 0;
};
constexpr const char* kSteps[] = {"take the owner's uid and gid", "create", "write", "open the log",
                                  "run"};

[[noreturn]] void Fail(int pipe_fd, int step, int index = 0) {
  const ChildError e{step, index, errno};
  (void)!write(pipe_fd, &e, sizeof(e));
  _exit(127);
}

// The directories to create for `run_dir`, outermost first (existing ones are skipped).
std::vector<std::string> Parents(const std::string& run_dir) {
  std::vector<std::string> out;
  for (std::size_t i = 1; i <= run_dir.size(); ++i) {
    if (i == run_dir.size() || run_dir[i] == '/') out.push_back(run_dir.substr(0, i));
  }
  out.push_back(run_dir + "/logs");
  return out;
}

bool WriteAll(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// The child: system calls only, from here to exec. It waits for the parent's go first.
[[noreturn]] void Child(const Launch& l, const std::vector<std::string>& dirs,
                        const std::string& tmp, char* const* argv, char* const* envp, int pipe_fd,
                        int go_fd) {
  char go = 0;
  ssize_t got;
  do {
    got = read(go_fd, &go, 1);
  } while (got < 0 && errno == EINTR);
  if (got != 1) _exit(0);  // the daemon gave up on it, or died before it knew our pid
  // The daemon blocks SIGTERM and SIGINT for sigwait; a worker must receive them.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  setsid();
  if (l.become) {
    if (setgroups(l.groups.size(), l.groups.data()) != 0 || setgid(l.gid) != 0 ||
        setuid(l.uid) != 0) {
      Fail(pipe_fd, 0);
    }
  }
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    if (mkdir(dirs[i].c_str(), 0755) != 0 && errno != EEXIST) Fail(pipe_fd, 1, static_cast<int>(i));
  }
  if (access(l.manifest_path.c_str(), F_OK) != 0) {  // whole or absent: a temporary name first
    const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || !WriteAll(fd, l.manifest_text) || fsync(fd) != 0 || close(fd) != 0 ||
        rename(tmp.c_str(), l.manifest_path.c_str()) != 0) {
      Fail(pipe_fd, 2);
    }
  }
  const int log = open(l.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) Fail(pipe_fd, 3);
  dup2(log, STDOUT_FILENO);
  dup2(log, STDERR_FILENO);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
  execve(argv[0], argv, envp);
  Fail(pipe_fd, 4);
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Variables that hold a user's credentials or point into a user's own folders.
bool IsPersonal(const std::string& name) {
  static const char* const kNames[] = {"HF_TOKEN",
                                       "HUGGING_FACE_HUB_TOKEN",
                                       "HF_TOKEN_PATH",
                                       "HF_HOME",
                                       "HF_HUB_CACHE",
                                       "HUGGINGFACE_HUB_CACHE",
                                       "XDG_CACHE_HOME",
                                       "XDG_DATA_HOME",
                                       "AWS_ACCESS_KEY_ID",
                                       "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN",
                                       "AWS_PROFILE",
                                       "AWS_SHARED_CREDENTIALS_FILE",
                                       "AWS_CONFIG_FILE"};
  for (const char* n : kNames) {
    if (name == n) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> WorkerEnv(const Config& config, const std::string& cuda_visible,
                                   const std::string& user, const std::string& home) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string var(*e);
    const std::string name = var.substr(0, var.find('='));
    if (name == "CUDA_VISIBLE_DEVICES" || name == "CUDA_DEVICE_ORDER" ||
        name == "ENTRENAR_CUSTOM_CALLBACKS" || name == "ENTRENAR_NVML_LIBRARY")
      continue;
    // A worker is no rank of some data-parallel run entrenard was started in: it launches its
    // own ranks.
    if (name == "RANK" || name == "WORLD_SIZE" || name == "LOCAL_RANK" ||
        name == "LOCAL_WORLD_SIZE" || name == "MASTER_ADDR" || name == "MASTER_PORT")
      continue;
    if (!user.empty() && (name == "HOME" || name == "USER" || name == "LOGNAME")) continue;
    // Another user's worker gets none of entrenard's own credentials or caches: it finds its
    // owner's (~/.cache/huggingface/token, the owner's Hub cache) from its HOME.
    if (!user.empty() && IsPersonal(name)) continue;
    env.push_back(var);
  }
  env.push_back("CUDA_VISIBLE_DEVICES=" + cuda_visible);
  env.push_back("CUDA_DEVICE_ORDER=PCI_BUS_ID");  // NVML's order, which names our devices
  // A job queued before an admin turned custom callbacks off does not run them.
  if (!config.allow_custom_callbacks) env.push_back("ENTRENAR_CUSTOM_CALLBACKS=off");
  if (!config.nvml_library.empty()) env.push_back("ENTRENAR_NVML_LIBRARY=" + config.nvml_library);
  if (!user.empty()) {
    env.insert(env.end(), {"HOME=" + home, "USER=" + user, "LOGNAME=" + user});
  }
  return env;
}

Status BecomeOwner(std::uint32_t uid, std::uint32_t gid, Launch* launch, std::string* user,
                   std::string* home) {
  launch->become = true;
  launch->uid = uid;
  launch->gid = gid;
  *user = std::to_string(uid);
  *home = "/";
  const std::optional<User> pw = UserById(uid);
  if (!pw) {
    if (gid == 0) return FailedPrecondition("uid " + std::to_string(uid) + " has no passwd entry");
    launch->groups = {gid};
    return OkStatus();
  }
  if (launch->gid == 0) launch->gid = pw->gid;
  *user = pw->name;
  *home = pw->home;
  int n = 64;
  launch->groups.assign(static_cast<std::size_t>(n), 0);
  if (getgrouplist(pw->name.c_str(), launch->gid, launch->groups.data(), &n) < 0) {
    launch->groups.assign(static_cast<std::size_t>(n), 0);
    getgrouplist(pw->name.c_str(), launch->gid, launch->groups.data(), &n);
  }
  launch->groups.resize(static_cast<std::size_t>(n));
  return OkStatus();
}

Result<pid_t> StartWorker(const Launch& launch, const std::function<Status(pid_t)>& forked) {
  const std::vector<std::string> dirs = Parents(launch.run_dir);
  const std::string tmp = launch.manifest_path + ".tmp";
  std::vector<std::string> args = launch.args, env = launch.env;
  const std::vector<char*> argv = Pointers(args), envp = Pointers(env);
  int fds[2], go[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
  if (pipe2(go, O_CLOEXEC) != 0) {
    close(fds[0]), close(fds[1]);
    return Internal(std::string("pipe: ") + std::strerror(errno));
  }
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]), close(fds[1]), close(go[0]), close(go[1]);
    return Internal(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    close(go[1]);
    Child(launch, dirs, tmp, argv.data(), envp.data(), fds[1], go[0]);
  }
  close(fds[1]), close(go[0]);
  const Status known = forked(pid);
  if (!known.ok() || !WriteAll(go[1], "g")) {
    close(go[1]), close(fds[0]);  // the child reads no go and exits
    waitpid(pid, nullptr, 0);
    return known.ok() ? Internal("the worker did not take its go") : known;
  }
  close(go[1]);
  ChildError e;
  ssize_t n;
  do {
    n = read(fds[0], &e, sizeof(e));
  } while (n < 0 && errno == EINTR);
  close(fds[0]);
  if (n != static_cast<ssize_t>(sizeof(e))) return pid;  // closed by exec: running
  waitpid(pid, nullptr, 0);
  std::string what = kSteps[e.step];
  if (e.step == 1) what += " " + dirs[static_cast<std::size_t>(e.index)];
  if (e.step == 2) what += " " + launch.manifest_path;
  if (e.step == 3) what += " " + launch.log_path;
  if (e.step == 4) what += " " + launch.args[0];
  const std::string who = launch.become ? " as uid " + std::to_string(launch.uid) : "";
  return FailedPrecondition("the worker could not " + what + who + ": " + std::strerror(e.err));
}

}  // namespace entrenar::supervisor
