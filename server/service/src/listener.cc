#include "entrenar/service/listener.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>

#include "entrenar/service/peers.h"

namespace entrenar::service {

bool UnixListener::Open(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    errno = ENAMETOOLONG;
    return false;
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  unlink(path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 128) != 0) {
    const int err = errno;
    close(fd);
    errno = err;
    return false;
  }
  chmod(path.c_str(), 0666);
  fd_ = fd;
  return true;
}

UnixListener::~UnixListener() { Stop(); }

void UnixListener::Stop() {
  stopping_ = true;
  const int fd = fd_.exchange(-1);
  if (fd >= 0) {
    shutdown(fd, SHUT_RDWR);
    close(fd);
  }
}

void UnixListener::Serve(grpc::Server* server, Peers& peers) {
  int backoff_ms = 0;
  auto last_warning = std::chrono::steady_clock::time_point{};
  const int listen_fd = fd_;
  while (!stopping_) {
    const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (stopping_ || err == EBADF || err == EINVAL) break;  // the socket was shut down
      if (err == EINTR || err == ECONNABORTED) continue;
      backoff_ms = std::min(1000, std::max(10, backoff_ms * 2));
      if (std::chrono::steady_clock::now() - last_warning > std::chrono::seconds(10)) {
        spdlog::warn("accept: {}; retrying (every {} ms at most)", std::strerror(err), backoff_ms);
        last_warning = std::chrono::steady_clock::now();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      continue;
    }
    backoff_ms = 0;
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        !peers.Add(fd, {cred.uid, cred.gid})) {
      if (std::chrono::steady_clock::now() - last_warning > std::chrono::seconds(10)) {
        spdlog::warn("uid {}: too many open connections; refusing more", cred.uid);
        last_warning = std::chrono::steady_clock::now();
      }
      close(fd);
      continue;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    grpc::AddInsecureChannelFromFd(server, fd);
  }
}

void RaiseDescriptorLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

}  // namespace entrenar::service
