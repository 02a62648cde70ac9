#pragma once

#include <cstdint>

namespace entrenar::service {

// Who is calling.
struct Caller {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

}  // namespace entrenar::service
