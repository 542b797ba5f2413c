#!/usr/bin/env bash
# Usage: source_scan.sh ROOT
# Fails (exit 1, naming file and line) if any file under ROOT's pkcs11/ keyservice/ api/ audit/
# bench/ and witness/ folders could take key material out of the token:
#   - names C_WrapKey or C_UnwrapKey (key wrapping is how a PKCS#11 key leaves a token);
#   - names CKA_VALUE (an EC or secret key's value) or an RSA private component outside
#     pkcs11/attribute_policy.{h,cc}, the code that refuses to read them (and hands the
#     attribute only to object_attributes.cc's length-only probe for `keyadmin token check`);
#   - names C_GetAttributeValue outside pkcs11/object_attributes.cc, the one caller, which asks
#     attribute_policy first.
# Whole words only: CKA_VALUE_LEN is fine. Comments count too: a rule that ignored comments could
# be dodged by a macro, and naming these in a comment elsewhere is rare enough to reword.
set -euo pipefail
root=${1:?usage: source_scan.sh ROOT}
folders=()
for folder in pkcs11 keyservice api audit bench witness; do
  [[ -d $root/$folder ]] && folders+=("$root/$folder")
done
if ((${#folders[@]} == 0)); then
  echo "source_scan: none of pkcs11/ keyservice/ api/ audit/ bench/ under $root" >&2
  exit 2
fi

found=0
# report RULE ALLOWED_FILE... : reads grep -n output on stdin, skips the allowed files.
report() {
  local rule=$1
  shift
  local line file
  while IFS= read -r line; do
    file=${line%%:*}
    local allowed=0 keep
    for keep in "$@"; do
      [[ $file == "$root/$keep" ]] && allowed=1
    done
    if ((allowed == 0)); then
      echo "forbidden: ${line#"$root"/}  ($rule)"
      found=1
    fi
  done
}

scan() {
  grep -rInwE "$1" "${folders[@]}" || true
}

report "key wrapping takes keys out of the token" < <(scan 'C_WrapKey|C_UnwrapKey')
report "private key material is read nowhere; attribute_policy refuses it" \
  pkcs11/attribute_policy.h pkcs11/attribute_policy.cc \
  < <(scan 'CKA_VALUE|CKA_PRIVATE_EXPONENT|CKA_PRIME_1|CKA_PRIME_2|CKA_EXPONENT_1|CKA_EXPONENT_2|CKA_COEFFICIENT')
report "attributes are read only through pkcs11/object_attributes.cc, which applies the policy" \
  pkcs11/object_attributes.cc < <(scan 'C_GetAttributeValue')

if ((found)); then
  echo "source_scan: key material could leave the token (the rules: top of tests/security/source_scan.sh)" >&2
  exit 1
fi
echo "source_scan: ${folders[*]#"$root"/} clean"
