// The real keyclient binary against a real server (this process's SoftHSM token, SQLite, HTTPS
// on 127.0.0.1): a clean fetch verifies and prints the bundle; answers tampered in flight by a
// fault-injecting proxy are refused (exit 1) naming the failure; usage, credential, network and
// server errors exit 2 without ever printing the credential.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "audit/checkpoint.h"
#include "audit/encoding.h"
#include "audit/log_entry.h"
#include "audit/note.h"
#include "audit/openssl_ptr.h"
#include "audit/prekey.h"
#include "keyservice/tls_cert.h"
#include "pkcs11/keys.h"
#include "tests/api/server_fixture.h"
#include "tests/audit/keyclient/tampering_proxy.h"

extern char** environ;

using namespace escrowless;
using escrowless::testing::ServerFixture;
using escrowless::testing::TamperingProxy;
using escrowless::testing::TempDir;
using escrowless::testing::TestToken;
using escrowless::testing::expect_json;
using nlohmann::json;

namespace {

struct Run {
  int exit_code = -1;
  std::string out, err;
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs the keyclient binary with `args`, its output captured in files under `dir`.
Run keyclient(const std::vector<std::string>& args, const TempDir& dir) {
  const std::string out = (dir.path() / "stdout").string(), err = (dir.path() / "stderr").string();
  posix_spawn_file_actions_t actions;
  REQUIRE(posix_spawn_file_actions_init(&actions) == 0);
  REQUIRE(posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600) == 0);
  REQUIRE(posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600) == 0);
  std::vector<std::string> argv_strings{ESCROWLESS_KEYCLIENT};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, ESCROWLESS_KEYCLIENT, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(spawned == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return Run{WEXITSTATUS(status), read_file(out), read_file(err)};
}

std::string write_secret_file(const TempDir& dir, const std::string& name, const std::string& text, mode_t mode = 0600) {
  const std::filesystem::path path = dir.path() / name;
  std::ofstream(path) << text << "\n";
  REQUIRE(::chmod(path.c_str(), mode) == 0);
  return path.string();
}

std::vector<std::uint8_t> random_bytes(std::size_t n) {
  std::vector<std::uint8_t> bytes(n);
  std::ifstream("/dev/urandom", std::ios::binary).read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(n));
  return bytes;
}

json prekey(std::uint32_t key_id, std::size_t size) {
  return {{"key_id", key_id}, {"public_key", audit::base64_encode(random_bytes(size))}};
}

// A server with alice's device enrolled and its prekeys uploaded, and what keyclient needs.
struct World {
  ServerFixture server;
  TempDir dir;
  std::string device, credential, credential_file, vkey;

  World() {
    auto client = server.client();
    const json made = expect_json(client->Post("/v1/accounts/alice/devices", server.admin_headers(), "", "application/json"), 201);
    device = made.at("device_id");
    credential = made.at("credential");
    json body = {{"signed_prekey", prekey(1, 32)}, {"pq_last_resort_prekey", prekey(2, 1184)}};
    for (std::uint32_t i = 0; i < 20; ++i) body["one_time_prekeys"].push_back(prekey(100 + i, 32));
    for (std::uint32_t i = 0; i < 2; ++i) body["pq_one_time_prekeys"].push_back(prekey(500 + i, 1184));
    expect_json(client->Put(("/v1/accounts/alice/devices/" + device + "/prekeys").c_str(), ServerFixture::bearer(credential),
                            body.dump(), "application/json"),
                200);
    credential_file = write_secret_file(dir, "credential", credential);
    vkey = server.log().verifier().to_string();
  }

  std::vector<std::string> fetch(int port, bool one_device = true) const {
    std::vector<std::string> args = {"fetch", "--server", "https://127.0.0.1:" + std::to_string(port), "--verifier-key", vkey,
                                     "--account", "alice", "--credential", credential_file, "--cacert", server.cert()};
    if (one_device) args.insert(args.end(), {"--device", device});
    return args;
  }
};

std::string flip_base64(const std::string& text, std::size_t byte = 0) {
  std::vector<std::uint8_t> bytes = audit::base64_decode(text);
  bytes.at(byte) ^= 0x01;
  return audit::base64_encode(bytes);
}

json& only_bundle(json& body) { return body.at("bundles").at(0); }

}  // namespace

TEST_CASE("keyclient: fetch verifies a real server's bundles and prints them", "[http][hsm]") {
  World world;
  const Run one = keyclient(world.fetch(world.server.port()), world.dir);
  INFO("stderr: " << one.err);
  REQUIRE(one.exit_code == 0);
  CHECK(one.err.empty());
  const json printed = json::parse(one.out);
  CHECK(printed.at("verified") == true);
  CHECK(printed.at("checkpoint").at("origin") == world.server.log().verifier().name());
  CHECK(printed.at("checkpoint").at("tree_size").get<std::uint64_t>() >= 2);
  REQUIRE(printed.at("bundles").size() == 1);
  const json& bundle = printed.at("bundles")[0];
  CHECK(bundle.at("account") == "alice");
  CHECK(bundle.at("device_id") == world.device);
  CHECK(bundle.at("signed_prekey").at("key_id") == 1);
  CHECK(bundle.at("pq_prekey").at("kind") == "pq_one_time_prekey");
  CHECK(bundle.at("one_time_prekey").at("kind") == "one_time_prekey");

  // The account's bundles; the one-time keys handed out before are gone.
  const Run all = keyclient(world.fetch(world.server.port(), false), world.dir);
  REQUIRE(all.exit_code == 0);
  const json all_printed = json::parse(all.out);
  REQUIRE(all_printed.at("bundles").size() == 1);
  CHECK(all_printed.at("bundles")[0].at("one_time_prekey").at("key_id") != bundle.at("one_time_prekey").at("key_id"));
  CHECK(one.out.find(world.credential) == std::string::npos);
}

TEST_CASE("keyclient: answers tampered in flight are refused naming the failure", "[http][hsm]") {
  World world;
  TamperingProxy proxy(world.server.port(), world.server.cert(), world.server.key());
  const audit::VerifierKey& verifier = world.server.log().verifier();

  // A key of our own that is not the log's: checkpoints it signs prove nothing.
  const audit::EvpPkeyPtr stranger(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  REQUIRE(stranger);
  const auto stranger_signs = [&](const std::string& text) {
    std::vector<std::uint8_t> public_key(32), signature(64);
    std::size_t length = public_key.size();
    EVP_PKEY_get_raw_public_key(stranger.get(), public_key.data(), &length);
    const audit::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    const auto message = audit::note_signed_message(text);
    length = signature.size();
    EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, stranger.get());
    EVP_DigestSign(ctx.get(), signature.data(), &length, message.data(), message.size());
    const std::uint32_t key_id = audit::compute_key_id(verifier.name(), audit::SignatureType::ed25519, public_key);
    return audit::append_signature(text, audit::format_signature_line(verifier.name(), key_id, signature));
  };

  // A one-time prekey signed in the token by the device's own identity key, but never logged:
  // what a service that skips the log could hand out.
  const auto signed_but_unlogged = [&](json& body) {
    json& key = only_bundle(body).at("one_time_prekey");
    const std::uint64_t enrolled_index = only_bundle(body).at("identity_key").at("enrolled_index");
    std::vector<std::uint8_t> cka_id;
    for (const json& entry : body.at("entries")) {
      if (entry.at("index") != enrolled_index) continue;
      const audit::LogEntry parsed = audit::parse_entry(audit::base64_decode(entry.at("data").get<std::string>()));
      cka_id = std::get<audit::DeviceEnrolled>(parsed.body).identity_key.key_id;
    }
    pkcs11::SessionPool& pool = TestToken::get().token().pool();
    const auto identity = pkcs11::find_key_pair_by_id(pool, cka_id);
    if (!identity) throw std::runtime_error("the device's identity key is not on the token");
    const std::vector<std::uint8_t> public_key = random_bytes(32);
    const auto message = audit::prekey_signature_message(audit::PrekeyKind::one_time_prekey, "alice", world.device,
                                                         key.at("key_id"), public_key);
    key["public_key"] = audit::base64_encode(public_key);
    key["signature"] = audit::base64_encode(pkcs11::sign(pool, *identity, message));
  };

  struct Probe {
    std::string name;
    TamperingProxy::Mutation mutate;
    std::string message;
  };
  const std::vector<Probe> probes = {
      {"flipped-proof-byte",
       [](json& body) {
         json& proof = body.at("entries").at(0).at("inclusion_proof");
         proof[0] = flip_base64(proof[0].get<std::string>(), 5);
       },
       ": inclusion proof does not lead to the checkpoint's root"},
      {"checkpoint-signed-by-another-key",
       [&](json& body) { body["checkpoint"] = stranger_signs(audit::parse_note(body.at("checkpoint").get<std::string>()).text); },
       "checkpoint: note: no signature from a known key"},
      {"checkpoint-with-another-root",
       [](json& body) {
         audit::Note note = audit::parse_note(body.at("checkpoint").get<std::string>());
         const audit::Checkpoint checkpoint = audit::parse_checkpoint(note.text);
         audit::Hash root = checkpoint.root;
         root[0] ^= 0x80;
         note.text = audit::format_checkpoint(checkpoint.origin, checkpoint.size, root);
         body["checkpoint"] = audit::format_note(note);
       },
       "checkpoint: note: signature by " + verifier.name()},
      {"prekey-not-in-the-log", signed_but_unlogged, ": batch path does not lead to the logged root"},
      {"swapped-signature",
       [](json& body) { only_bundle(body)["signed_prekey"]["signature"] = only_bundle(body).at("one_time_prekey").at("signature"); },
       "device " + world.device + ": signed prekey 1: signature does not verify under the logged identity key"},
  };

  // Through the proxy, untouched: verifies (so each refusal below is the mutation's doing).
  REQUIRE(keyclient(world.fetch(proxy.port()), world.dir).exit_code == 0);
  // One server for all probes (not a section each): enrolling and uploading dominate the time.
  for (const Probe& probe : probes) {
    INFO(probe.name);
    proxy.set(probe.mutate);
    const Run run = keyclient(world.fetch(proxy.port()), world.dir);
    INFO("stderr: " << run.err);
    CHECK(run.exit_code == 1);
    CHECK_THAT(run.err, Catch::StartsWith("keyclient: verification failed: ") && Catch::Contains(probe.message));
    CHECK(run.out.empty());
  }
}

TEST_CASE("keyclient: usage credential network and server errors exit 2", "[http][hsm]") {
  World world;
  const std::string url = "https://127.0.0.1:" + std::to_string(world.server.port());
  const auto with = [&](const std::string& option, const std::string& value) {
    std::vector<std::string> args = world.fetch(world.server.port());
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == option) args[i + 1] = value;
    }
    return args;
  };
  const std::string forged = "forged-credential-" + std::string(30, 'x');
  const std::string other_dir = (world.dir.path() / "other").string();
  std::filesystem::create_directory(other_dir);
  keyservice::write_localhost_certificate(other_dir + "/cert.pem", other_dir + "/key.pem");

  struct Probe {
    std::string name;
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Probe> probes = {
      {"wrong-credential", with("--credential", write_secret_file(world.dir, "forged", forged)),
       "answered HTTP 401 Unauthorized: the credential is not valid"},
      {"unknown-device", with("--device", "nosuchdevice"), "answered HTTP 404"},
      {"plain-http-url", with("--server", "http://127.0.0.1:" + std::to_string(world.server.port())), "must start with https://"},
      {"url-without-host", with("--server", "https://:8443"), "has no host"},
      {"nothing-listening", with("--server", "https://127.0.0.1:1"), "cannot connect to https://127.0.0.1:1: connection refused"},
      {"untrusted-certificate", with("--cacert", other_dir + "/cert.pem"), "the server certificate did not verify"},
      {"group-readable-credential", with("--credential", write_secret_file(world.dir, "shared", forged, 0640)),
       "is accessible by group or others (mode 0640)"},
      {"empty-credential", with("--credential", write_secret_file(world.dir, "empty", "")), "is empty"},
      {"bad-verifier-key", with("--verifier-key", "not-a-key"), "--verifier-key:"},
      {"bad-account-id", with("--account", "../admin"), "--account \"../admin\" is not a valid id"},
      {"missing-credential-file", with("--credential", (world.dir.path() / "nosuchfile").string()), "File does not exist"},
      {"no-server", {"fetch", "--account", "alice"}, "--server is required"},
      {"no-subcommand", {}, "A subcommand is required"},
  };
  for (const Probe& probe : probes) {
    INFO(probe.name);
    const Run run = keyclient(probe.args, world.dir);
    INFO("stderr: " << run.err);
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.err, Catch::Contains(probe.message));
    CHECK(run.out.empty());
    CHECK(run.err.find(forged) == std::string::npos);
    CHECK(run.err.find(world.credential) == std::string::npos);
  }
}
