#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "entrenar/service/caller.h"

namespace entrenar::service {

// Who is at the other end of each unix-socket connection entrenard accepted (SO_PEERCRED),
// for the gRPC calls that arrive on it (gRPC names such a peer "fd:N").
//
// A descriptor number is reused once gRPC closes a connection, so an entry is keyed by the
// number *and* the socket's identity (device and inode, from fstat): a call is credited to a
// user only while descriptor N is still the very socket that user connected with, and entries
// of closed connections are dropped at the next Add. Also caps the connections a user holds
// open at once (users in `exempt`, the admins, have no cap).
// Thread-safe: mu_ guards entries_.
class Peers {
 public:
  Peers(std::int64_t max_per_user, std::set<std::uint32_t> exempt);

  // Records the connection on `fd`. Returns false (recording nothing) when the socket cannot be
  // looked at or `caller` has max_per_user connections open already.
  bool Add(int fd, Caller caller);
  // The caller behind gRPC peer `peer` ("fd:N"), or nullopt when it is not one of ours or fd N
  // is no longer the socket that was recorded.
  std::optional<Caller> Find(const std::string& peer);
  // Open connections of `uid` (after dropping closed ones).
  std::int64_t CountFor(std::uint32_t uid);

 private:
  struct Entry {
    Caller caller;
    dev_t dev = 0;
    ino_t ino = 0;
  };
  static bool Same(int fd, const Entry& e);
  void PruneLocked();

  const std::int64_t max_per_user_;
  const std::set<std::uint32_t> exempt_;
  std::mutex mu_;  // guards entries_ (the acceptor adds, gRPC threads look up)
  std::map<int, Entry> entries_;
};

}  // namespace entrenar::service
