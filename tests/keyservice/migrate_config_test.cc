// keyadmin migrate's rewrite of keyservice.conf (keyservice/migrate/config_switch.h): the storage
// lines replaced, everything else as the operator left it.
#include <catch2/catch.hpp>

#include "keyservice/migrate/config_switch.h"

namespace migrate = escrowless::keyservice::migrate;

TEST_CASE("migrate: the config names PostgreSQL after data-dir and keeps every other line", "[unit]") {
  const std::string old_text =
      "# keyserviced configuration\n"
      "data-dir = \"/srv/escrowless\"\n"
      "storage = \"sqlite\"\n"
      "listen = \"0.0.0.0\"\n"
      "  storage=sqlite\n"
      "; an operator's note\n"
      "threads = 32\n";
  CHECK(migrate::switched_config_text(old_text, "host=db dbname=\"e\\s\"") ==
        "# keyserviced configuration\n"
        "data-dir = \"/srv/escrowless\"\n"
        "storage = \"postgresql\"\n"
        "postgresql-url = \"host=db dbname=\\\"e\\\\s\\\"\"\n"
        "listen = \"0.0.0.0\"\n"
        "; an operator's note\n"
        "threads = 32\n");
}

TEST_CASE("migrate: a config without data-dir gets the PostgreSQL lines first", "[unit]") {
  CHECK(migrate::switched_config_text("port = 8443\npostgresql-url = \"old\"\n", "dbname=e") ==
        "storage = \"postgresql\"\npostgresql-url = \"dbname=e\"\nport = 8443\n");
}
