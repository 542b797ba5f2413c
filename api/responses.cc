#include "api/responses.h"

namespace escrowless::api {

nlohmann::json hashes_json(const std::vector<audit::Hash>& hashes) {
  nlohmann::json list = nlohmann::json::array();
  for (const audit::Hash& hash : hashes) list.push_back(audit::to_base64(hash));
  return list;
}

nlohmann::json receipt_json(keyservice::TransparencyLog& log, const keyservice::Receipt& receipt) {
  return {
      {"index", receipt.index},
      {"tree_size", receipt.tree_size},
      {"checkpoint", receipt.checkpoint},
      {"inclusion_proof", hashes_json(log.inclusion_proof(receipt.index, receipt.tree_size))},
  };
}

void send_json(httplib::Response& response, int status, const nlohmann::json& body) {
  response.status = status;
  response.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                       "application/json");
}

}  // namespace escrowless::api
