#include "entrenar/service/peers.h"

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace entrenar::service {
namespace {

// A connected pair of unix sockets: {ours, theirs}.
std::pair<int, int> Pair() {
  int fds[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  return {fds[0], fds[1]};
}

TEST_CASE("A reused descriptor is never credited to the connection that had it before",
          "[unit][service]") {
  Peers peers(64, {});
  const auto [fd, other] = Pair();
  REQUIRE(peers.Add(fd, {1000, 1000}));
  REQUIRE(peers.Find("fd:" + std::to_string(fd)).has_value());
  CHECK(peers.Find("fd:" + std::to_string(fd))->uid == 1000);
  // The connection closes; a new socket gets the same number, as the kernel gives it.
  close(fd);
  close(other);
  const auto [reused, peer] = Pair();
  REQUIRE(reused == fd);
  CHECK_FALSE(peers.Find("fd:" + std::to_string(reused)).has_value());
  // Once accepted and recorded, it is the new user's.
  REQUIRE(peers.Add(reused, {2000, 2000}));
  CHECK(peers.Find("fd:" + std::to_string(reused))->uid == 2000);
  CHECK(peers.CountFor(1000) == 0);
  close(reused);
  close(peer);
}

TEST_CASE("Peers that are not ours, or not numbers, are nobody", "[unit][service]") {
  Peers peers(64, {});
  for (const char* p : {"ipv4:127.0.0.1:5", "fd:", "fd:x", "fd:3x", "fd:-1", "fd:99999999999"})
    CHECK_FALSE(peers.Find(p).has_value());
}

TEST_CASE("A user's connections are capped, admins' are not, and closing frees a place",
          "[unit][service]") {
  Peers peers(2, {0});
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < 4; ++i) pairs.push_back(Pair());
  CHECK(peers.Add(pairs[0].first, {7, 7}));
  CHECK(peers.Add(pairs[1].first, {7, 7}));
  CHECK_FALSE(peers.Add(pairs[2].first, {7, 7}));
  CHECK(peers.Add(pairs[2].first, {0, 0}));  // the admin
  CHECK(peers.CountFor(7) == 2);
  close(pairs[0].first);
  pairs[0].first = -1;
  CHECK(peers.CountFor(7) == 1);
  CHECK(peers.Add(pairs[3].first, {7, 7}));
  for (auto& [a, b] : pairs) {
    if (a >= 0) close(a);
    close(b);
  }
}

}  // namespace
}  // namespace entrenar::service
