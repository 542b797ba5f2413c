// GET /tlog/checkpoint, /tlog/tile/<L>/<N>[.p/<W>] and /tlog/tile/entries/<N>[.p/<W>]: the log as
// C2SP tlog-tiles (https://c2sp.org/tlog-tiles), public and read-only, so any mirror, CDN or
// standard tlog client can read and audit it without the /v1 API. Tiles are made from the
// stored subtree hashes on request; nothing beyond the newest signed checkpoint is served.
#include "api/http_server.h"
#include "api/problem.h"
#include "api/request.h"
#include "api/service.h"
#include "audit/entry_bundle.h"
#include "audit/error.h"
#include "audit/tile_coords.h"
#include "audit/tiles.h"

namespace escrowless::api {
namespace {

// A full tile or bundle never changes. A partial one never changes either, but the log may stop
// serving it once the full tile exists (the spec allows that), so caches keep it only briefly;
// the checkpoint changes with every batch ("SHOULD prevent caching beyond a few seconds").
constexpr const char* kImmutable = "public, max-age=31536000, immutable";
constexpr const char* kPartial = "public, max-age=60";
constexpr const char* kCheckpoint = "public, max-age=5";

}  // namespace

void add_tile_routes(HttpServer& server, Service& service) {
  server.get("/tlog/checkpoint", [&service](const auto& request, auto& response) {
    allow_only(request, {});
    response.set_header("Cache-Control", kCheckpoint);
    response.set_content(service.log.checkpoint(), "text/plain; charset=utf-8");
  });

  server.get_rest("/tlog/tile/{tile_path}", [&service](const auto& request, auto& response) {
    allow_only(request, {});
    const std::string path = "tile/" + std::string(request.matches[1]);
    audit::ParsedTilePath parsed;
    try {
      parsed = audit::parse_tile_path(path);
    } catch (const audit::Error& e) {
      throw not_found(e.what());  // as a static file server would: no such file
    }
    const audit::TileId& tile = parsed.tile;
    const std::uint64_t size = service.log.size();  // read once: the tile must lie within it
    const unsigned available = audit::tile_width_in_tree(tile.level, tile.index, size);
    if (tile.width > available || (!tile.partial() && available != audit::kTileWidth)) {
      throw not_found(path + " is beyond the newest checkpoint (tree size " + std::to_string(size) + ")");
    }
    std::string data;
    if (parsed.entries) {
      const std::uint64_t first = tile.index * audit::kTileWidth;
      const std::vector<std::string> entries = service.log.entries(first, tile.width);
      try {
        data = audit::format_entry_bundle(entries, first);
      } catch (const audit::Error& e) {
        // Not the client's fault, and no truncated bundle either: the entry can't be carried.
        throw ApiError(501, "entry-too-large-for-tiles",
                       std::string(e.what()) + ". Since schema 2, hsm.inventory entries are split into parts that "
                       "fit; this entry is older (or not one of ours): read it from /v1/log/entries "
                       "(docs/log-format.md, 'Tiles').");
      }
    } else {
      data = audit::format_hash_tile(service.log.subtree_hashes(audit::tile_nodes(tile)));
    }
    response.set_header("Cache-Control", tile.partial() ? kPartial : kImmutable);
    response.set_content(data, "application/octet-stream");
  });
}

}  // namespace escrowless::api
