#include "witness/witness_routes.h"

#include "witness/add_checkpoint_request.h"

namespace escrowless::witness {

api::ServerOptions server_options(api::ServerOptions options) {
  options.plain_text_errors = true;
  options.max_body_bytes = kMaxRequestBytes;
  return options;
}

std::unique_ptr<api::HttpServer> make_witness_server(Witness& witness, const api::ServerOptions& options,
                                                     api::Metrics& metrics) {
  auto server = api::HttpServer::create(server_options(options), metrics);
  server->post("/add-checkpoint", [&witness](const httplib::Request& request, httplib::Response& response) {
    const Reply reply = witness.add_checkpoint(request.body);
    response.status = reply.status;
    response.set_content(reply.body, reply.content_type.c_str());
  });
  server->get("/{origin_hash}/checkpoint", [&witness](const httplib::Request& request, httplib::Response& response) {
    const std::optional<std::string> checkpoint = witness.latest_checkpoint(request.matches[1].str());
    if (!checkpoint) {
      response.status = 404;
      response.set_content("no checkpoint cosigned for this log\n", "text/plain; charset=utf-8");
      return;
    }
    // Monitors poll; a cache may hold it briefly (the spec allows up to an hour of delay).
    response.set_header("Cache-Control", "max-age=5");
    response.set_content(*checkpoint, "text/plain; charset=utf-8");
  });
  server->get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("ok\n", "text/plain; charset=utf-8");
  });
  server->get("/metrics", [&metrics](const httplib::Request&, httplib::Response& response) {
    response.set_content(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  return server;
}

}  // namespace escrowless::witness
