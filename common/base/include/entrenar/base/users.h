#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace entrenar {

// A local account, from the passwd database.
struct User {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;  // primary group
  std::string name;
  std::string home;
};

std::optional<User> UserById(std::uint32_t uid);

// A user given by name or by uid ("alice", "1001"). A uid without a passwd entry is still a uid:
// it comes back with gid 0 and its number as the name.
std::optional<User> FindUser(const std::string& name_or_uid);

}  // namespace entrenar
