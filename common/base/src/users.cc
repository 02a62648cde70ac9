#include "entrenar/base/users.h"

#include <pwd.h>

#include <cstdlib>
#include <vector>

namespace entrenar {
namespace {

User FromPasswd(const passwd& pw) {
  return {static_cast<std::uint32_t>(pw.pw_uid), static_cast<std::uint32_t>(pw.pw_gid), pw.pw_name,
          pw.pw_dir};
}

}  // namespace

std::optional<User> UserById(std::uint32_t uid) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return std::nullopt;
  return FromPasswd(pw);
}

std::optional<User> FindUser(const std::string& name_or_uid) {
  if (name_or_uid.empty()) return std::nullopt;
  char* end = nullptr;
  const unsigned long uid = std::strtoul(name_or_uid.c_str(), &end, 10);
  if (*end == '\0') {
    if (std::optional<User> u = UserById(static_cast<std::uint32_t>(uid))) return u;
    return User{static_cast<std::uint32_t>(uid), 0, name_or_uid, "/"};
  }
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name_or_uid.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) {
    return std::nullopt;
  }
  return FromPasswd(pw);
}

}  // namespace entrenar
