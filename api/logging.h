// spdlog set-up for keyserviced: text or one JSON object per line, on stderr. Log lines carry
// requests' method, route, status and id, never headers, bodies, PINs or credentials.
#pragma once

#include <string>

namespace escrowless::api {

// format: "text" or "json"; level: trace, debug, info, warn, error.
void setup_logging(const std::string& format, const std::string& level);

}  // namespace escrowless::api
