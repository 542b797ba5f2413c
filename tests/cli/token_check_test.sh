#!/usr/bin/env bash
# keyadmin token check on a fresh token of the kind ESCROWLESS_TEST_TOKEN names (softhsm by
# default; tests/support/token_env_main.cc makes it): the verdict and exit code each kind must
# get (SoftHSM and tpm2-pkcs11 carry the no-escrow claim, tpm2 with its forced decrypt flag
# accepted because it offers no mechanism that could use it; NSS cannot, its keys read back
# CKA_LOCAL false), the JSON report parsed and asserted with jq, the table, no throwaway key left
# behind, and exit 2 for usage and connection errors.
# Usage: token_check_test.sh PATH/TO/keyadmin PATH/TO/test_token_env
set -euo pipefail
keyadmin=$1 token_env=$2
kind=${ESCROWLESS_TEST_TOKEN:-softhsm}
work=$(mktemp -d)
cleanup() {
  if [[ -n ${TOKEN_PID:-} ]]; then
    exec {TOKEN[1]}>&-
    wait "$TOKEN_PID" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL ($kind): $*" >&2; exit 1; }

mkdir "$work/token"
coproc TOKEN { "$token_env" "$kind" "$work/token"; }
read -r ready <&"${TOKEN[0]}" || fail "test_token_env did not start"
[[ $ready == ready ]] || fail "test_token_env said '$ready'"
source "$work/token/token.env"
admin() { "$keyadmin" --module-init-args "$TOKEN_MODULE_INIT_ARGS" "$@"; }

status=0
admin token check --token "$TOKEN_URI" --seconds 0.2 --json > "$work/check.json" 2> "$work/check.err" || status=$?
report=$(cat "$work/check.json")
j() { jq -e "$@" "$work/check.json" > /dev/null || fail "jq $* on: $report"; }

# Every kind: a P-256 key made, judged, signed with, verified by OpenSSL, measured and destroyed.
j '.keys | length >= 1'
j '.keys[0].algorithm == "ecdsa-p256"'
j '[.keys[] | .generated and .signature.verified_by_openssl and .destroyed] | all'
j '[.keys[] | .private_value.refused] | all'
j '[.keys[] | .wrap.attempted == false] | all'
j '[.keys[] | .throughput.signatures >= 1 and .throughput.signatures_per_second > 0] | all'
private() { j "[.keys[] | .attributes[] | select(.half == \"private\" and .name == \"$1\")] | all($2)"; }
private extractable '.actual == false and .status == "honoured"'
private sensitive '.actual == true and .status == "honoured"'
private sign '.actual == true and .status == "honoured"'
private never_extractable '.actual == true and .status == "reported"'
j '.mechanisms.offered > 0'
j '.limits | has("max_sessions") and has("free_private_memory")'

case $kind in
  softhsm)
    [[ $status -eq 0 ]] || fail "exit $status, wanted 0: $(cat "$work/check.err")"
    j '.no_escrow_claim == true and .reasons == []'
    j '[.keys[].algorithm] == ["ecdsa-p256", "ed25519"]'
    j '.mechanisms.missing == []'
    j '[.keys[] | .attributes[] | select(.status == "forced")] == []'
    j '[.keys[] | .private_value.answer] | all(startswith("CKR_ATTRIBUTE_SENSITIVE"))'
    ;;
  tpm2)
    [[ $status -eq 0 ]] || fail "exit $status, wanted 0: $(cat "$work/check.err")"
    j '.no_escrow_claim == true'
    j '.mechanisms.missing == ["CKM_EC_EDWARDS_KEY_PAIR_GEN", "CKM_EDDSA"]'
    private decrypt '.actual == true and .status == "forced" and .left_to_token'
    j '.keys[0].faults == [] and (.keys[0].accepted_forced | length == 1)'
    j '.keys[0].accepted_forced[0] | startswith("decrypt is forced true")'
    j '.limits.free_private_memory == "unavailable"'
    ;;
  nss)
    [[ $status -eq 1 ]] || fail "exit $status, wanted 1 (CKA_LOCAL false): $(cat "$work/check.err")"
    j '.no_escrow_claim == false'
    private local '.actual == false'
    j '.keys[0].faults == ["not generated in the token (local is false)"]'
    j '.reasons | length == 1 and (.[0] | contains("local is false"))'
    j '.limits.max_sessions == "unlimited"'
    ;;
  *) fail "unknown token kind" ;;
esac

# The table says the same.
status=0
admin token check --token "$TOKEN_URI" --seconds 0.1 > "$work/table.txt" 2>&1 || status=$?
grep -q "^ecdsa-p256 throwaway key" "$work/table.txt" || fail "no key section: $(cat "$work/table.txt")"
grep -q "signature verified by OpenSSL: yes" "$work/table.txt" || fail "no verified signature in the table"
if [[ $kind == nss ]]; then
  [[ $status -eq 1 ]] || fail "table run exited $status"
  grep -q "^No-escrow claim: this token CANNOT carry it" "$work/table.txt" || fail "no verdict in the table"
  grep -q "FAULT: not generated in the token" "$work/table.txt" || fail "no fault line in the table"
else
  [[ $status -eq 0 ]] || fail "table run exited $status"
  grep -q "^No-escrow claim: this token can carry it" "$work/table.txt" || fail "no verdict in the table"
fi

# Nothing of the check stays on the token.
admin inventory --token "$TOKEN_URI" > "$work/inventory.json" || fail "inventory"
jq -e '[.. | objects | select(has("label")) | .label | select(startswith("escrowless-token-check"))] == []' \
  "$work/inventory.json" > /dev/null || fail "a throwaway key is left: $(cat "$work/inventory.json")"

# Usage and connection errors: exit 2 with a message.
expect_2() {
  local why=$1 status=0
  shift
  admin token check "$@" > "$work/out" 2> "$work/err" || status=$?
  [[ $status -eq 2 ]] || fail "exit $status (wanted 2) for: $*"
  grep -q -- "$why" "$work/err" || fail "no '$why' in: $(cat "$work/err")"
}
expect_2 "--token is required"
expect_2 "seconds" --token "$TOKEN_URI" --seconds 0
expect_2 "PKCS#11 URI" --token "not-a-uri"
printf 'not-the-pin\n' > "$work/wrong-pin"
chmod 600 "$work/wrong-pin"
expect_2 "CKR_PIN_INCORRECT" --token "${TOKEN_URI%%pin-source=*}pin-source=file:$work/wrong-pin"
expect_2 "cannot be found\|not found\|No such" --token "${TOKEN_URI%%module-path=*}module-path=/nonexistent.so&${TOKEN_URI#*&}"
echo "token check on $kind: all checks passed"
