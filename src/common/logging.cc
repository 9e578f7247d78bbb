#include "mesh/common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "mesh/common/strings.h"

namespace mesh {

absl::Status InitLogging(std::string_view level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  // from_str maps unknown names to "off"; only accept that when it was asked for.
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(mesh::StrCat(
        "unknown log level '", level, "'; use trace, debug, info, warn, error or off"));
  }
  // Idempotent: a second call only changes the level.
  auto logger = spdlog::get("mesh");
  if (logger == nullptr) {
    logger = spdlog::stderr_color_mt("mesh");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
  return absl::OkStatus();
}

}  // namespace mesh
