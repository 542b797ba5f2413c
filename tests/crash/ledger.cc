#include "tests/crash/ledger.h"

namespace escrowless::crashtest {

Receipt Receipt::from_json(const nlohmann::json& log) {
  Receipt receipt;
  receipt.index = log.at("index").get<std::uint64_t>();
  receipt.tree_size = log.at("tree_size").get<std::uint64_t>();
  receipt.checkpoint = log.at("checkpoint").get<std::string>();
  receipt.inclusion_proof = log.at("inclusion_proof").get<std::vector<std::string>>();
  return receipt;
}

void Ledger::serve(const std::string& note, std::uint64_t size) {
  served_checkpoints.insert(note);
  if (size > max_served_size) max_served_size = size;
}

}  // namespace escrowless::crashtest
