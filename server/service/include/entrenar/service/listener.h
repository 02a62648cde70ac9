#pragma once

#include <atomic>
#include <string>

namespace grpc {
class Server;
}

namespace entrenar::service {

class Peers;

// entrenard's unix socket: created world-connectable (identity comes from SO_PEERCRED and
// permissions are checked per call), each accepted connection credited to its peer's uid in
// `Peers` and handed to the gRPC server. Running out of descriptors (EMFILE, ENFILE) or memory
// is waited out with backoff, never the end of accepting; a user past their connection cap is
// disconnected at once. Serve runs on one thread; Stop may be called from any other.
class UnixListener {
 public:
  // Binds `path` (its folder created, a stale socket replaced); false (errno set) on failure.
  bool Open(const std::string& path);
  ~UnixListener();

  // Accepts until Stop.
  void Serve(grpc::Server* server, Peers& peers);
  // Ends Serve and closes the socket (the file stays: the caller unlinks it).
  void Stop();

 private:
  std::atomic<int> fd_{-1};
  std::atomic<bool> stopping_{false};
};

// As many descriptors as the hard limit allows: connections are capped per user instead.
void RaiseDescriptorLimit();

}  // namespace entrenar::service
