#include "entrenar/base/logging.h"

#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace entrenar {

bool SetupLogging(std::string_view level) {
  const spdlog::level::level_enum lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") return false;
  try {
    auto logger = spdlog::stderr_color_mt("entrenar");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    logger->set_level(lvl);
    spdlog::set_default_logger(logger);
  } catch (const spdlog::spdlog_ex&) {
    spdlog::set_level(lvl);  // Already configured: keep the logger, change its level.
  }
  return true;
}

}  // namespace entrenar
