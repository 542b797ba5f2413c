// The whole REST surface on one server: what keyserviced serves and what the tests start.
#pragma once

#include <memory>

#include "api/http_server.h"
#include "api/service.h"

namespace escrowless::api {

// Every route of every area, and the service's gauges on `service.metrics`.
std::unique_ptr<HttpServer> make_server(Service& service, const ServerOptions& options);

}  // namespace escrowless::api
