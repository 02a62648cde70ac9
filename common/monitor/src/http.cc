// A small blocking HTTP/1.1 client over POSIX sockets, for tracking servers.
#include "http.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "entrenar/base/strings.h"

namespace entrenar::monitor {
namespace {

using Clock = std::chrono::steady_clock;

int Remaining(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<long long>(0, left.count()));
}

// Connects to host:port before `deadline`; -1 when it cannot.
int Connect(const HttpUrl& url, Clock::time_point deadline, std::string* why) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found);
  if (rc != 0) {
    *why = gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    pollfd p{fd, POLLOUT, 0};
    int err = errno;
    if (err == EINPROGRESS && poll(&p, 1, Remaining(deadline)) == 1) {
      socklen_t len = sizeof(err);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) break;
    } else if (err == EINPROGRESS) {
      err = ETIMEDOUT;
    }
    *why = std::strerror(err);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  return fd;
}

bool SendAll(int fd, const std::string& data, Clock::time_point deadline) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, Remaining(deadline)) != 1) return false;
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    if (n > 0) sent += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads until the peer closes (the request said Connection: close).
bool ReceiveAll(int fd, std::string* out, Clock::time_point deadline) {
  char buf[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, Remaining(deadline)) != 1) return false;
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    if (n > 0) out->append(buf, static_cast<std::size_t>(n));
  }
}

// Decodes a chunked body; false when malformed.
bool Dechunk(const std::string& in, std::string* out) {
  std::size_t pos = 0;
  for (;;) {
    const std::size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos) return false;
    std::size_t size = 0;
    try {
      size = std::stoul(in.substr(pos, eol - pos), nullptr, 16);
    } catch (...) {
      return false;
    }
    if (size == 0) return true;
    if (eol + 2 + size > in.size()) return false;
    out->append(in, eol + 2, size);
    pos = eol + 2 + size + 2;
  }
}

Result<HttpResponse> Parse(const std::string& raw) {
  const std::size_t head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos || raw.size() < 12)
    return DataLoss("not an HTTP response");
  HttpResponse r;
  r.status = std::atoi(raw.c_str() + 9);
  const std::string head = ToLower(raw.substr(0, head_end));
  std::string body = raw.substr(head_end + 4);
  if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    if (!Dechunk(body, &r.body)) return DataLoss("a malformed chunked body");
  } else {
    r.body = std::move(body);
  }
  return r;
}

}  // namespace

Result<HttpUrl> ParseHttpUrl(const std::string& url) {
  if (url.rfind("https://", 0) == 0)
    return InvalidArgument("https is not supported: " + url +
                           " (reach the server through a TLS-terminating proxy on localhost)");
  if (url.rfind("http://", 0) != 0) return InvalidArgument("not an http:// address: " + url);
  std::string rest = url.substr(7);
  HttpUrl u;
  const std::size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    u.path = rest.substr(slash);
    rest.resize(slash);
  }
  while (u.path.size() > 1 && u.path.back() == '/') u.path.pop_back();
  if (u.path == "/") u.path.clear();
  const std::size_t colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']') == std::string::npos) {
    u.port = rest.substr(colon + 1);
    rest.resize(colon);
  }
  if (!rest.empty() && rest.front() == '[' && rest.back() == ']')
    rest = rest.substr(1, rest.size() - 2);
  u.host = rest;
  if (u.host.empty() || u.port.empty() ||
      u.port.find_first_not_of("0123456789") != std::string::npos)
    return InvalidArgument("a malformed address: " + url);
  return u;
}

Result<HttpResponse> HttpRequest(const HttpUrl& base, const std::string& method,
                                 const std::string& path, const std::string& body,
                                 std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string why;
  const int fd = Connect(base, deadline, &why);
  const std::string where = base.host + ":" + base.port;
  if (fd < 0) return Status(StatusCode::kUnavailable, "cannot reach " + where + ": " + why);
  std::string request = method + " " + base.path + path + " HTTP/1.1\r\nHost: " + where +
                        "\r\nConnection: close\r\nUser-Agent: entrenar\r\n";
  if (!body.empty()) {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  std::string raw;
  const bool ok = SendAll(fd, request, deadline) && ReceiveAll(fd, &raw, deadline);
  close(fd);
  if (!ok) return Status(StatusCode::kUnavailable, where + " did not answer in time");
  return Parse(raw);
}

}  // namespace entrenar::monitor
