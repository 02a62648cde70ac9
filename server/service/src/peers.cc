#include "entrenar/service/peers.h"

#include <sys/stat.h>

#include <cstdlib>

namespace entrenar::service {

Peers::Peers(std::int64_t max_per_user, std::set<std::uint32_t> exempt)
    : max_per_user_(max_per_user), exempt_(std::move(exempt)) {}

bool Peers::Same(int fd, const Entry& e) {
  struct stat st {};
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == e.dev && st.st_ino == e.ino;
}

void Peers::PruneLocked() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = Same(it->first, it->second) ? std::next(it) : entries_.erase(it);
  }
}

bool Peers::Add(int fd, Caller caller) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  PruneLocked();
  if (!exempt_.count(caller.uid)) {
    std::int64_t open = 0;
    for (const auto& [n, e] : entries_) open += e.caller.uid == caller.uid ? 1 : 0;
    if (open >= max_per_user_) return false;
  }
  entries_[fd] = Entry{caller, st.st_dev, st.st_ino};
  return true;
}

std::optional<Caller> Peers::Find(const std::string& peer) {
  if (peer.rfind("fd:", 0) != 0) return std::nullopt;
  char* end = nullptr;
  const long fd = std::strtol(peer.c_str() + 3, &end, 10);
  if (end == peer.c_str() + 3 || *end != '\0' || fd < 0 || fd > 1 << 30) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = entries_.find(static_cast<int>(fd));
  if (it == entries_.end() || !Same(it->first, it->second)) return std::nullopt;
  return it->second.caller;
}

std::int64_t Peers::CountFor(std::uint32_t uid) {
  std::lock_guard<std::mutex> lock(mu_);
  PruneLocked();
  std::int64_t n = 0;
  for (const auto& [fd, e] : entries_) n += e.caller.uid == uid ? 1 : 0;
  return n;
}

}  // namespace entrenar::service
