// The log served as C2SP tlog-tiles over real HTTPS: the root rebuilt from the served tiles
// equals the signed checkpoint's, every entry bundle matches its level-0 tile and the entries
// logged, caching headers, 404 beyond the checkpoint, a clear 501 for an entry too large for a
// bundle, and Go's golang.org/x/mod/sumdb/tlog reading the same tiles.
#include <catch2/catch.hpp>

#include <cstdio>
#include <future>
#include <string>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/entry_bundle.h"
#include "audit/log_auditor.h"
#include "audit/tile_coords.h"
#include "audit/tiles.h"
#include "pkcs11/keys.h"
#include "tests/api/server_fixture.h"

using namespace escrowless;
using escrowless::testing::ServerFixture;
using escrowless::testing::TestToken;
using escrowless::testing::expect_json;
using nlohmann::json;

namespace {

std::string entry_text(int i) { return "{\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(i % 50, 'p') + "\"}"; }

void append_entries(keyservice::TransparencyLog& log, int from, int to) {
  std::vector<std::future<keyservice::Receipt>> pending;
  for (int i = from; i < to; ++i) pending.push_back(log.append(entry_text(i)));
  for (auto& receipt : pending) receipt.get();
}

// GETs /tlog/<path>, requiring a 200 with the tile media type and `cache_control`.
std::string get_tile(httplib::SSLClient& client, const std::string& path, const std::string& cache_control) {
  const auto result = client.Get(("/tlog/" + path).c_str());
  REQUIRE(result);
  INFO(path << ": " << result->body.substr(0, 300));
  REQUIRE(result->status == 200);
  CHECK(result->get_header_value("Content-Type") == "application/octet-stream");
  CHECK(result->get_header_value("Cache-Control") == cache_control);
  return result->body;
}

std::string cache_control_of(const audit::TileId& tile) {
  return tile.partial() ? "public, max-age=60" : "public, max-age=31536000, immutable";
}

std::string run(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe);
  char buffer[512];
  while (fgets(buffer, sizeof buffer, pipe)) output += buffer;
  const int status = pclose(pipe);
  INFO(command << "\n" << output);
  REQUIRE(status == 0);
  return output;
}

}  // namespace

TEST_CASE("tiles: the served tiles rebuild the signed checkpoint's root and carry every entry", "[http][hsm]") {
  ServerFixture server;
  // Two full level-0 tiles and a partial one of 37: a partial level-1 tile of 2 above them.
  constexpr int kSize = 256 * 2 + 37;
  append_entries(server.log(), 0, kSize);
  auto client = server.client();
  const audit::VerifierKey& verifier = server.log().verifier();

  const auto checkpoint_response = client->Get("/tlog/checkpoint");
  REQUIRE(checkpoint_response);
  REQUIRE(checkpoint_response->status == 200);
  CHECK(checkpoint_response->get_header_value("Content-Type") == "text/plain; charset=utf-8");
  CHECK(checkpoint_response->get_header_value("Cache-Control") == "public, max-age=5");
  const audit::Checkpoint checkpoint =
      audit::open_checkpoint(checkpoint_response->body, verifier.name(), std::span(&verifier, 1));
  REQUIRE(checkpoint.size == kSize);

  std::vector<audit::TileId> read;
  const audit::TileReader reader = [&](const audit::TileId& tile) {
    read.push_back(tile);
    const std::string data = get_tile(*client, audit::tile_path(tile), cache_control_of(tile));
    return audit::parse_hash_tile(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()), tile);
  };
  CHECK(audit::root_from_tiles(kSize, reader) == checkpoint.root);
  CHECK_FALSE(read.empty());

  // Every tile of the tree, and every entry bundle against its level-0 tile and the entries logged.
  audit::for_each_tile(kSize, [&](const audit::TileId& tile) {
    const std::vector<audit::Hash> hashes = reader(tile);
    if (tile.level == 0) {
      const std::string bundle =
          get_tile(*client, audit::entry_bundle_path(tile.index, tile.width), cache_control_of(tile));
      const std::vector<std::string> entries = audit::parse_entry_bundle(bundle, tile.width);
      CHECK_NOTHROW(audit::check_entry_bundle(entries, hashes, tile.index * 256));
      for (unsigned i = 0; i < tile.width; ++i) CHECK(entries[i] == entry_text(static_cast<int>(tile.index * 256 + i)));
    }
    return true;
  });
  // A partial tile of a size some checkpoint may have had is served too, a wider one is not.
  CHECK(get_tile(*client, "tile/0/002.p/36", "public, max-age=60").size() == 36 * 32);

  for (const std::string missing : {"tile/0/002", "tile/0/002.p/38", "tile/0/003.p/1", "tile/1/000", "tile/1/000.p/3",
                                    "tile/2/000.p/1", "tile/entries/002", "tile/entries/002.p/38", "tile/0/x000/002",
                                    "tile/8/000", "tile/0/002.p/037", "tile/", "tile/entries"}) {
    INFO(missing);
    const json problem = expect_json(client->Get(("/tlog/" + missing).c_str()), 404);
    CHECK(problem.at("type") == "urn:escrowless:problem:not-found");
  }
  CHECK_THAT(expect_json(client->Get("/tlog/tile/0/002"), 404).at("detail").get<std::string>(),
             Catch::Contains("beyond the newest checkpoint (tree size 549)"));

  // Go's sumdb/tlog reads the same tiles and agrees; under another log's key it refuses.
  // Built here in GOPATH mode from Debian's packages, without any network (as cli:log-init does).
  const escrowless::testing::TempDir go_dir;  // removed however the test ends
  const std::string work = go_dir.path().string();
  run("GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=" + work + "/cache GOFLAGS= go build -o " +
      work + "/go_tiles_verify " + ESCROWLESS_GO_TILES_VERIFY_SOURCE + " 2>&1");
  const std::string prefix = "https://127.0.0.1:" + std::to_string(server.port()) + "/tlog";
  const std::string go = work + "/go_tiles_verify " + prefix + " " + server.cert() + " ";
  CHECK(run(go + "'" + verifier.to_string() + "' 2>&1") ==
        std::to_string(kSize) + " " + audit::to_base64(checkpoint.root) + "\n");
  const std::string other_key = "log.escrowless.test/v1+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6";
  CHECK(std::system((go + "'" + other_key + "' >/dev/null 2>&1").c_str()) != 0);
}

TEST_CASE("tiles: an entry over 65,535 bytes makes its bundle a clear 501, never a truncated one", "[http][hsm]") {
  ServerFixture server;
  append_entries(server.log(), 0, 3);
  server.log().append("{\"big\":\"" + std::string(70000, 'i') + "\"}").get();
  auto client = server.client();

  const json problem = expect_json(client->Get("/tlog/tile/entries/000.p/4"), 501);
  CHECK(problem.at("type") == "urn:escrowless:problem:entry-too-large-for-tiles");
  const std::string detail = problem.at("detail");
  CHECK_THAT(detail, Catch::Contains("entry 3 is 70010 bytes") && Catch::Contains("65,535") &&
                         Catch::Contains("split into parts") && Catch::Contains("/v1/log/entries"));
  // The bundle before it, the hash tile and the entry itself through the API are all there.
  CHECK(audit::parse_entry_bundle(get_tile(*client, "tile/entries/000.p/3", "public, max-age=60"), 3).size() == 3);
  CHECK(get_tile(*client, "tile/0/000.p/4", "public, max-age=60").size() == 4 * 32);
  CHECK(expect_json(client->Get("/v1/log/entries?start=3&count=1"), 200).at("entries").size() == 1);
}

TEST_CASE("tiles: a large token's inventory is logged in parts that every entry bundle carries", "[http][hsm]") {
  ServerFixture server;
  pkcs11::Token& token = TestToken::get().token();
  // 120 key pairs, labels near the 128-byte limit: 240 objects, more than one part's 65,535 bytes
  // of inventory, once one entry. (Key generation and each key's proof of possession are what
  // take the time under the sanitizers, so the count is no larger than two parts need.)
  std::vector<pkcs11::KeyPair> keys;
  const pkcs11::Algorithm algorithm = pkcs11::choose_algorithm(token.mechanisms());
  for (int i = 0; i < 120; ++i) {
    keys.push_back(pkcs11::generate_key_pair(token.pool(), algorithm, pkcs11::random_key_id(),
                                             "tiles-inventory-" + std::to_string(i) + std::string(100, 'l')));
  }
  auto client = server.client();
  const json created = expect_json(client->Post("/v1/admin/inventory", server.admin_headers(), "", "text/plain"), 201);
  for (const pkcs11::KeyPair& key : keys) pkcs11::destroy_key_pair(token.pool(), key);

  const std::uint64_t size = server.log().size();
  std::vector<std::string> entries;
  for (std::uint64_t tile = 0; tile * audit::kTileWidth < size; ++tile) {
    const auto width = static_cast<unsigned>(std::min<std::uint64_t>(audit::kTileWidth, size - tile * audit::kTileWidth));
    const std::string cache = width < audit::kTileWidth ? "public, max-age=60" : "public, max-age=31536000, immutable";
    for (std::string& entry :
         audit::parse_entry_bundle(get_tile(*client, audit::entry_bundle_path(tile, width), cache), width)) {
      entries.push_back(std::move(entry));
    }
  }
  REQUIRE(entries.size() == size);
  // Every part came through the tiles; together they are one inventory the auditor accepts as
  // complete (the fixture's log has no hsm.provisioned, so only the inventory rules matter).
  std::size_t parts = 0, objects = 0;
  audit::LogAuditor auditor;
  for (const std::string& bytes : entries) {
    for (const audit::Violation& violation : auditor.audit(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()))) {
      INFO(violation.message);
      CHECK(violation.rule != "schema");
      CHECK(violation.rule != "inventory");
      CHECK(violation.rule != "possession");
    }
    const audit::LogEntry entry = audit::parse_entry(bytes);
    if (const auto* part = std::get_if<audit::HsmInventory>(&entry.body)) {
      REQUIRE(part->part);
      ++parts;
      objects += part->objects.size();
    }
  }
  CHECK(parts >= 2);
  CHECK(objects >= 240);
  CHECK(auditor.stats().inventories == 1);
  CHECK_FALSE(auditor.incomplete_inventory());
  CHECK(created.at("log").at("index").get<std::uint64_t>() == size - parts);
}
