#include "audit/proof_verify.h"

#include <bit>
#include <string>

#include "audit/error.h"
#include "audit/proof_shape.h"

namespace escrowless::audit {
namespace {

void check_proof_length(const char* what, std::size_t got, std::size_t want) {
  if (got != want) {
    throw invalid_input(std::string(what) + ": proof has " + std::to_string(got) +
                        " hashes, expected " + std::to_string(want));
  }
}

void check_root(const char* what, const Hash& expected, const Hash& computed) {
  if (expected != computed) {
    throw mismatch(std::string(what) + ": root mismatch: expected " + to_hex(expected) +
                   ", computed " + to_hex(computed));
  }
}

// Shifts fn and sn right together until fn's lowest bit is set or fn is 0 (RFC 9162's step
// "right-shift both fn and sn equally until either LSB(fn) is set or fn is 0").
void skip_right_border(uint64_t& fn, uint64_t& sn) {
  while (fn != 0 && (fn & 1) == 0) {
    fn >>= 1;
    sn >>= 1;
  }
}

}  // namespace

Hash root_from_inclusion_proof(uint64_t index, uint64_t size, const Hash& leaf_hash,
                               std::span<const Hash> proof) {
  // The length check (which also rejects index >= size) makes every later failure a mismatch;
  // with it the RFC's in-loop "sn is 0" failure can't happen, and is kept only as a guard.
  check_proof_length("inclusion proof", proof.size(), inclusion_proof_length(index, size));

  // RFC 9162 2.1.3.2.
  uint64_t fn = index;
  uint64_t sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) throw invalid_input("inclusion proof: too many hashes");
    if ((fn & 1) != 0 || fn == sn) {
      r = node_hash(p, r);
      if ((fn & 1) == 0) skip_right_border(fn, sn);
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) throw invalid_input("inclusion proof: too few hashes");
  return r;
}

void verify_inclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                      std::span<const Hash> proof, const Hash& root) {
  check_root("inclusion proof", root, root_from_inclusion_proof(index, size, leaf_hash, proof));
}

Hash root_from_consistency_proof(uint64_t size1, uint64_t size2, const Hash& root1,
                                 std::span<const Hash> proof) {
  check_proof_length("consistency proof", proof.size(), consistency_proof_length(size1, size2));
  if (size1 == size2) return root1;  // empty proof: the trees are the same tree

  // RFC 9162 2.1.4.2. When size1 is a power of two the old root is itself the first node of the
  // path, so the RFC prepends first_hash; here that is "start from root1 instead of proof[0]".
  const bool prepend_root1 = std::has_single_bit(size1);
  std::size_t next = 0;
  const Hash& first = prepend_root1 ? root1 : proof[next++];

  uint64_t fn = size1 - 1;
  uint64_t sn = size2 - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = first;
  Hash sr = first;
  for (; next < proof.size(); ++next) {
    const Hash& c = proof[next];
    if (sn == 0) throw invalid_input("consistency proof: too many hashes");
    if ((fn & 1) != 0 || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      if ((fn & 1) == 0) skip_right_border(fn, sn);
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) throw invalid_input("consistency proof: too few hashes");
  check_root("consistency proof (old tree)", root1, fr);
  return sr;
}

void verify_consistency(uint64_t size1, uint64_t size2, const Hash& root1, const Hash& root2,
                        std::span<const Hash> proof) {
  check_root("consistency proof (new tree)", root2,
             root_from_consistency_proof(size1, size2, root1, proof));
}

}  // namespace escrowless::audit
