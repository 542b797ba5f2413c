#!/usr/bin/env bash
# Usage: source_scan_selftest.sh SCANNER
# Checks that the scanner fails on each kind of planted violation (naming the file) and passes on
# a clean tree and on the allowed places, in throwaway trees.
set -euo pipefail
scanner=${1:?usage: source_scan_selftest.sh SCANNER}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

# tree NAME: a fresh tree with the five folders and a harmless file.
tree() {
  local dir=$work/$1
  mkdir -p "$dir"/{pkcs11,keyservice,api,audit,bench}
  printf '// CKA_VALUE_LEN is fine; so is C_WrapKeyFake.\nint x = CKA_VALUE_LEN;\n' >"$dir/pkcs11/keys.cc"
  echo "$dir"
}

expect() {
  local want=$1 name=$2 file=$3 text=$4
  local dir
  dir=$(tree "$name")
  if [[ -n $file ]]; then
    mkdir -p "$(dirname "$dir/$file")"
    printf '%s\n' "$text" >"$dir/$file"
  fi
  local output status=0
  output=$("$scanner" "$dir" 2>&1) || status=$?
  if [[ $want == pass && $status -ne 0 ]]; then
    echo "FAIL $name: expected a pass, got exit $status: $output"
    failures=$((failures + 1))
  elif [[ $want == fail && ($status -ne 1 || $output != *"$file"*) ]]; then
    echo "FAIL $name: expected exit 1 naming $file, got exit $status: $output"
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

expect pass clean "" ""
expect fail wrap-call api/export.cc '  rv = fn->C_WrapKey(session, &mech, wrapping, key, out, &len);'
expect fail unwrap-in-header keyservice/import.h 'auto f = &CK_FUNCTION_LIST::C_UnwrapKey;'
expect fail unwrap-in-bench bench/steal.cc 'C_UnwrapKey'
expect fail value-read audit/peek.cc 'CK_ATTRIBUTE a{CKA_VALUE, buf, sizeof buf};'
expect fail value-in-pkcs11 pkcs11/keys_extra.cc 'read_attribute(s, key, CKA_VALUE);'
expect fail rsa-private-part keyservice/rsa.cc 'read(CKA_PRIVATE_EXPONENT);'
expect fail get-attribute-bypass keyservice/raw.cc 'fn->C_GetAttributeValue(h, o, &a, 1);'
expect pass value-in-policy pkcs11/attribute_policy.cc 'if (type == CKA_VALUE) refuse();'
expect pass value-in-policy-header pkcs11/attribute_policy.h '// refuses CKA_VALUE'
expect pass get-attribute-in-its-place pkcs11/object_attributes.cc 'fn->C_GetAttributeValue(h, o, &a, 1);'
expect pass other-folders tests/pkcs11/keys_test.cc 'read_attribute(s, key, CKA_VALUE);'

if ((failures)); then
  echo "$failures scanner self-test case(s) failed"
  exit 1
fi
echo "scanner self-test: all cases behave"
