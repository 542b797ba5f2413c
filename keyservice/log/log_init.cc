#include "keyservice/log/log_init.h"

#include <chrono>
#include <filesystem>

#include "audit/encoding.h"
#include "audit/error.h"
#include "keyservice/error.h"
#include "keyservice/log/note_signer.h"
#include "keyservice/log/sqlite_log_storage.h"
#include "keyservice/log/token_entries.h"
#include "keyservice/log/transparency_log.h"

namespace escrowless::keyservice {
namespace fs = std::filesystem;

namespace {

void remove_database(const std::string& path) {
  std::error_code ignored;
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) fs::remove(path + suffix, ignored);
}

// A failed init leaves nothing behind: no database, and no key in the token that no log accounts for.
void undo(const LogDatabase& db, pkcs11::Token& token, const pkcs11::KeyPair& key) {
  if (db.kind == LogDatabase::Kind::sqlite) remove_database(db.target);
  try {
    pkcs11::destroy_key_pair(token.pool(), key);
  } catch (const std::exception&) {
    // The token is failing too; the original error says more than this one would.
  }
}

std::string bytes_of(const std::vector<std::uint8_t>& data) { return {data.begin(), data.end()}; }

}  // namespace

InitializedLog initialize_log(pkcs11::Token& token, const std::string& data_dir,
                              const std::string& origin) {
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) throw Error(ErrorKind::invalid_input, "cannot create " + data_dir + ": " + ec.message());
  const std::string db = (fs::absolute(data_dir) / kLogDatabaseName).string();
  if (fs::exists(db)) throw Error(ErrorKind::conflict, db + " already exists: not overwriting a log");
  return initialize_log(token, LogDatabase::sqlite(db), origin);
}

InitializedLog initialize_log(pkcs11::Token& token, const LogDatabase& db, const std::string& origin) {

  const pkcs11::Algorithm algorithm = pkcs11::choose_algorithm(token.mechanisms());
  const std::vector<std::uint8_t> key_id = pkcs11::random_key_id();
  const pkcs11::KeyPair key = pkcs11::generate_key_pair(
      token.pool(), algorithm, key_id, "escrowless-log-" + audit::hex_encode(key_id).substr(0, 8));
  try {
    audit::HsmProvisioned provisioned;
    provisioned.time = audit::to_entry_time(std::chrono::system_clock::now());
    provisioned.origin = origin;
    provisioned.token = entry_token(token.info());
    provisioned.log_key = read_token_key(token.pool(), key);
    // Schema 2: the evidence keyaudit weighs a token's forced capability flags against.
    provisioned.mechanisms = entry_mechanisms(token.mechanisms());
    const std::vector<std::uint8_t> first_entry = provisioned.to_bytes();  // validates origin

    TransparencyLog::create(db, origin, TokenNoteSigner(token.pool(), key, origin), key.id);
    auto log = TransparencyLog::open(db, token.pool(), {});
    // In one batch: the first checkpoint covers the key and the inventory (its parts) that lists it.
    auto first = log->append(bytes_of(first_entry));
    auto inventory = append_inventory(*log, token);
    first.get();
    for (auto& part : inventory) part.get();
    return {db.name(), origin, log->verifier().to_string(), log->checkpoint()};
  } catch (...) {
    undo(db, token, key);
    try {
      throw;
    } catch (const audit::Error& e) {
      throw Error(ErrorKind::invalid_input, e.what());  // e.g. an origin the note format refuses
    }
  }
}

std::string read_verifier_key(const std::string& data_dir) {
  const std::string db = (fs::path(data_dir) / kLogDatabaseName).string();
  const auto storage = SqliteLogStorage::open(db, false);
  const auto key = storage->meta(kMetaVerifierKey);
  if (!key) throw Error(ErrorKind::integrity, db + " has no verifier key: not a log database");
  return *key;
}

}  // namespace escrowless::keyservice
