// What only the PostgreSQL backend has: its schema versions, its refusal of passwords in the
// connection string, error kinds for an unreachable server, and the fence that refuses a deposed
// writer's writes inside the database. The log's behaviour itself is tested on both backends by
// the [log] tests.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <chrono>

#include "audit/checkpoint.h"
#include "audit/merkle.h"
#include "keyservice/error.h"
#include "keyservice/log/postgres_log_storage.h"
#include "keyservice/store/postgresql.h"
#include "tests/support/test_postgresql.h"

using namespace escrowless;
using keyservice::ErrorKind;
using keyservice::PostgresLogStorage;
using testing::TestDatabase;

namespace {

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const keyservice::Error& e) {
    INFO(e.what());
    return e.kind();
  }
  FAIL("no error");
  return ErrorKind::internal;
}

// Appends `count` leaves to a storage whose tree is `tree`, as the sequencer would.
void append(keyservice::LogStorage& storage, audit::CompactTree& tree, const std::string& prefix, int count) {
  std::vector<keyservice::NewLeaf> leaves;
  std::vector<keyservice::NodeHash> nodes;
  for (int i = 0; i < count; ++i) {
    std::string data = "{\"" + prefix + "\":" + std::to_string(tree.size()) + "}";
    const audit::Hash hash = audit::leaf_hash(data);
    tree.append(hash, [&](const audit::NodeId& node, const audit::Hash& h) {
      if (node.level > 0) nodes.push_back({node, h});
    });
    leaves.push_back({std::move(data), hash});
  }
  storage.append(leaves, nodes, {tree.size(), tree.root(), audit::format_checkpoint("o/1", tree.size(), tree.root()), {}});
}

constexpr auto kWait = std::chrono::milliseconds(200);

}  // namespace

TEST_CASE("postgresql log: a new schema is versioned, an old one migrated, a newer one refused", "[postgresql]") {
  TestDatabase database;
  CHECK(kind_of([&] { PostgresLogStorage::open(database.conninfo(), false); }) == ErrorKind::not_found);
  PostgresLogStorage::open(database.conninfo(), true);
  const auto version = [&] {
    auto db = keyservice::postgresql::Connection::open(database.conninfo());
    return db.query("SELECT version FROM schema_version WHERE component = 'log'").int32(0, 0);
  };
  CHECK(version() == PostgresLogStorage::kSchemaVersion);

  // A version 1 database (before the writer epoch and the shared log's queue) gains the
  // log_writer and log_queue tables when opened.
  database.exec("DROP TABLE log_writer; DROP TABLE log_queue; UPDATE schema_version SET version = 1");
  CHECK(version() == 1);
  auto storage = PostgresLogStorage::open(database.conninfo(), false);
  CHECK(version() == PostgresLogStorage::kSchemaVersion);
  CHECK(PostgresLogStorage::open_writer(database.conninfo(), kWait)->epoch() == 1);
  database.exec("INSERT INTO log_queue (data) VALUES ('\\x7b7d'::bytea)");

  database.exec("UPDATE schema_version SET version = 99");
  try {
    PostgresLogStorage::open(database.conninfo(), false);
    FAIL("opened a newer schema");
  } catch (const keyservice::Error& e) {
    CHECK(e.kind() == ErrorKind::conflict);
    CHECK_THAT(e.what(), Catch::Contains("version 99, newer than this build"));
  }
}

TEST_CASE("postgresql log: a password in the connection string is refused and never echoed", "[postgresql]") {
  for (const std::string conninfo : {"host=127.0.0.1 password=hunter2-secret dbname=x",
                                     "postgresql://user:hunter2-secret@127.0.0.1/x"}) {
    try {
      PostgresLogStorage::open(conninfo, true);
      FAIL("accepted a password");
    } catch (const keyservice::Error& e) {
      CHECK(e.kind() == ErrorKind::invalid_input);
      CHECK_THAT(e.what(), !Catch::Contains("hunter2"));
      CHECK_THAT(e.what(), Catch::Contains("passfile"));
    }
  }
}

TEST_CASE("postgresql log: an unreachable server is unavailable, and a lost connection comes back", "[postgresql]") {
  TestDatabase database;
  // Port 1 on 127.0.0.1: nothing listens there.
  CHECK(kind_of([] { PostgresLogStorage::open("host=127.0.0.1 port=1 dbname=x connect_timeout=5", true); }) ==
        ErrorKind::unavailable);

  auto storage = PostgresLogStorage::open(database.conninfo(), true);
  storage->set_meta("origin", "o/1");
  // The server ends the session (as a restart or failover would).
  keyservice::postgresql::Connection::open(TestDatabase::admin_conninfo())
      .query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
             keyservice::postgresql::Params().add_text(database.name()));
  CHECK(kind_of([&] { storage->meta("origin"); }) == ErrorKind::unavailable);
  CHECK(storage->meta("origin") == "o/1");  // the next call reconnects
}

TEST_CASE("postgresql log: TLS to the database is the conninfo's sslmode, with the server's certificate verified",
          "[postgresql]") {
  TestDatabase database;
  const std::string tls = database.conninfo() + " sslmode=verify-full sslrootcert=" + TestDatabase::certificate("server-ca.crt");
  auto storage = PostgresLogStorage::open(tls, true);
  storage->set_meta("origin", "o/1");
  CHECK(storage->meta("origin") == "o/1");
  auto db = keyservice::postgresql::Connection::open(tls);
  const auto row = db.query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  REQUIRE(row.rows() == 1);
  CHECK(row.bytes(0, 0)[0] == 1);  // this session is encrypted
  CHECK((row.text(0, 1) == "TLSv1.3" || row.text(0, 1) == "TLSv1.2"));

  // A server whose certificate the configured root did not sign is refused before any query.
  const std::string wrong_root =
      database.conninfo() + " sslmode=verify-full sslrootcert=" + TestDatabase::certificate("other-ca.crt");
  try {
    PostgresLogStorage::open(wrong_root, false);
    FAIL("connected to an unverified server");
  } catch (const keyservice::Error& e) {
    CHECK(e.kind() == ErrorKind::unavailable);
    CHECK_THAT(e.what(), Catch::Contains("certificate verify failed"));
  }
}

TEST_CASE("postgresql log: bad stored data is an integrity error", "[postgresql]") {
  TestDatabase database;
  auto writer = [&] {
    PostgresLogStorage::open(database.conninfo(), true);
    return PostgresLogStorage::open_writer(database.conninfo(), kWait);
  }();
  audit::CompactTree tree;
  append(*writer, tree, "a", 3);
  database.exec("ALTER TABLE checkpoints DROP CONSTRAINT checkpoints_root_check; "
                "UPDATE checkpoints SET root = '\\x00'::bytea");
  CHECK(kind_of([&] { writer->latest_checkpoint(); }) == ErrorKind::integrity);
}

TEST_CASE("postgresql log: of two would-be writers the deposed one's writes are refused by the database",
          "[postgresql]") {
  TestDatabase database;
  PostgresLogStorage::open(database.conninfo(), true);
  auto first = PostgresLogStorage::open_writer(database.conninfo(), kWait);
  audit::CompactTree first_tree;
  append(*first, first_tree, "first", 4);

  // While the first writer's session lives, a second one is kept out.
  CHECK(kind_of([&] { PostgresLogStorage::open_writer(database.conninfo(), kWait); }) == ErrorKind::conflict);

  // The first writer's session ends without it noticing (a partition; PostgreSQL dropped it),
  // and a second node takes over: it gets the lock and the next epoch.
  keyservice::postgresql::Connection::open(TestDatabase::admin_conninfo())
      .query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
             keyservice::postgresql::Params().add_text(database.name()));
  auto second = PostgresLogStorage::open_writer(database.conninfo(), std::chrono::seconds(10));
  CHECK(second->epoch() == first->epoch() + 1);
  audit::CompactTree second_tree = first_tree;
  append(*second, second_tree, "second", 2);

  // The deposed writer still believes it leads. Its next writes reach the database (after a
  // reconnect) and are refused there, whatever tree it thinks it extends.
  audit::CompactTree stale = first_tree;
  const ErrorKind lost = kind_of([&] { append(*first, stale, "stale", 1); });
  CHECK((lost == ErrorKind::unavailable || lost == ErrorKind::conflict));
  stale = first_tree;
  CHECK(kind_of([&] { append(*first, stale, "stale", 1); }) == ErrorKind::conflict);
  stale = second_tree;
  CHECK(kind_of([&] { append(*first, stale, "stale", 1); }) == ErrorKind::conflict);
  CHECK(kind_of([&] { first->sign_checkpoint(6, "a note"); }) == ErrorKind::conflict);

  // Only the leader's leaves are stored, and it goes on.
  CHECK(second->leaf_count() == 6);
  CHECK(second->leaves(4, 2) == std::vector<std::string>{"{\"second\":4}", "{\"second\":5}"});
  CHECK_NOTHROW(second->sign_checkpoint(6, "a note"));
  append(*second, second_tree, "second", 1);
  CHECK(second->leaf_count() == 7);
}
