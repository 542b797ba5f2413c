// keyaudit's reading of a log from a C2SP tlog-tiles mirror (https://c2sp.org/tlog-tiles): the
// entries come from entry bundles, and every hash tile that holds a hash new since the last run
// is checked against the signed checkpoint, so a mirror (a CDN, a static folder, plain HTTP) need
// not be trusted. What binds each tile:
//   - a level-0 tile: each hash is the leaf hash of its bundle's entry;
//   - a hash at level L >= 1 that covers a new leaf: the MTH of the full tile below it;
//   - the tiles that the checkpoint's root is computed from (root_from_tiles): the root.
// Every fetched tile is one of these (a full tile's parent hash covers a new leaf; a partial
// tile is read for the root), so a changed hash anywhere is a mismatch.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "audit/hash.h"
#include "audit/keyaudit/entry_fetcher.h"

namespace escrowless::keyaudit {

// Reads chunks aligned on level-0 tiles (start a multiple of 256, count up to 256) of the tree
// of `size`: the entry bundle and its hash tile, each entry checked against its tile hash.
// Throws ServedDataMismatch naming the path of a malformed bundle or tile, or of a mismatch.
ChunkReader tile_chunk_reader(uint64_t size);

// What the entries gave: the MTH of each full level-0 tile read (by tile index) and the hashes
// of the partial level-0 tile at the right edge (empty if the tree has none or it was not read).
struct Level0Tiles {
  std::map<uint64_t, audit::Hash> full_roots;
  uint64_t edge_index = 0;
  std::vector<audit::Hash> edge;
};

// Fetches the hash tiles of levels 1 and up of the tree of `size` that hold a hash new since
// `previous_size` and checks them and the root as the header says. Throws ServedDataMismatch
// naming the tile at fault, FetchError when a tile can't be fetched.
void check_hash_tiles(const audit::client::HttpsClient& client, uint64_t previous_size, uint64_t size,
                      const audit::Hash& root, const Level0Tiles& level0);

}  // namespace escrowless::keyaudit
