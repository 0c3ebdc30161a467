// A fake Google Cloud (Cloud Functions v2 API, OAuth token endpoint, GCE
// metadata server, signed-URL upload, and each function's URL) on
// 127.0.0.1, port 0, that ENFORCES ARCHITECTURE.md §8 and refuses anything
// off the contract with Google's error JSON (recorded in `rejections()`).
//
// - Token endpoint: verifies the RS256 assertion with the test key's public
//   half, its header (alg, kid) and claims (iss, aud, iat, exp <= iat+3600,
//   exactly one of scope / target_audience); refuses with OAuth error JSON.
// - API calls need a Bearer access token it minted and that is unexpired.
// - The upload PUT must carry no Authorization and Content-Type application/zip.
// - Create/patch/delete return operations that finish after
//   `polls_until_done` polls (and, with the framework, once it listens), or
//   fail when `fail_next_operation` asked for it.
// - A function's serviceConfig.uri is a verifying front: it checks the ID
//   token (minted here, audience == that URI, unexpired), can inject 429s,
//   and forwards to the REAL Functions Framework running the uploaded zip
//   (or, with `run_framework = false`, answers echo itself).
//
// Everything runs on the test's io_context; `stop()` (or the destructor)
// closes every server and connection and kills the framework processes.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace blueprint::test {

/// A throwaway service account: a fresh RSA-2048 key made at test time.
struct TestServiceAccount {
    std::string client_email = "blueprint-test@test-project.iam.gserviceaccount.com";
    std::string private_key_id = "0123456789abcdef0123456789abcdef01234567";
    std::string private_key_pem;
    std::string public_key_pem;
    std::string project_id = "test-project";

    /// The key file JSON, as `gcloud iam service-accounts keys create` writes it.
    std::string key_json(std::string_view token_uri) const;
};
TestServiceAccount make_test_service_account();

/// Verifies an RS256 signature (independent of the code under test).
bool verify_rs256(std::string_view public_key_pem, std::string_view input, std::string_view signature);
/// base64url without padding, and back (nullopt on bad input).
std::string b64url(std::string_view data);
std::optional<std::string> unb64url(std::string_view text);

/// Where the Functions Framework from npm is (scripts/setup-npm.sh), and
/// whether node and it are installed; the message says how to fix it.
std::filesystem::path npm_cache_dir();
std::optional<std::string> functions_framework_missing();

struct FakeGcpOptions {
    std::string project = "test-project";
    std::string region = "us-central1";
    /// Polls of an operation before it is done.
    unsigned polls_until_done = 3;
    std::chrono::seconds access_token_lifetime{3600};
    std::chrono::seconds id_token_lifetime{3600};
    /// Run the uploaded package under the real Functions Framework.
    bool run_framework = true;
};

class FakeGcp {
public:
    FakeGcp(boost::asio::io_context& ioc, FakeGcpOptions options = {});
    ~FakeGcp();
    FakeGcp(const FakeGcp&) = delete;
    FakeGcp& operator=(const FakeGcp&) = delete;

    const TestServiceAccount& account() const;
    /// The key JSON with this fake's token URI, and the same written to a file.
    std::string key_json() const;
    std::filesystem::path key_file() const;
    /// "http://127.0.0.1:P/v2/", ".../token", "127.0.0.1:P".
    std::string api_base() const;
    std::string token_uri() const;
    std::string metadata_host() const;

    // ---- faults ----
    /// The next create/patch operation ends with this google.rpc.Status.
    void fail_next_operation(std::string message, int code = 3);
    /// The next `count` invocations of any function get `status` (e.g. 429).
    void inject_invoke_status(int status, unsigned count, std::string retry_after = {});
    /// Every token minted so far stops being accepted (as if expired).
    void revoke_tokens();
    /// The next API call gets this Google error (e.g. 403 PERMISSION_DENIED).
    void fail_next_api_call(int http_status, std::string status, std::string message);

    // ---- observations ----
    struct Stats {
        unsigned token_requests = 0;
        unsigned access_tokens = 0;
        unsigned id_tokens = 0;
        unsigned metadata_requests = 0;
        unsigned api_requests = 0;
        unsigned uploads = 0;
        unsigned creates = 0;
        unsigned patches = 0;
        unsigned deletes = 0;
        unsigned operation_polls = 0;
        unsigned invocations = 0;        ///< requests forwarded to a function
        unsigned injected = 0;           ///< injected statuses served
        unsigned invoke_auth_failures = 0;
    };
    Stats stats() const;
    /// Every refused request: "METHOD /path: why".
    std::vector<std::string> rejections() const;
    /// The last PATCH's updateMask and the last create/patch body.
    std::string last_update_mask() const;
    std::string last_function_body() const;
    /// State of a function by id ("blueprint-job-7"), nullopt when absent.
    std::optional<std::string> function_state(std::string_view function_id) const;
    /// The Functions Framework's output for a function (for failure messages).
    std::string framework_log(std::string_view function_id) const;
    /// The most recent ID token's claims JSON, for checks.
    std::string last_id_token_claims() const;

    void stop();

    struct State;

private:
    std::shared_ptr<State> state_;
};

}  // namespace blueprint::test
