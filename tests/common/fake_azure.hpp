// A fake Azure on 127.0.0.1 (one port, own thread) that ENFORCES ARCHITECTURE.md §9
// and rejects any request off the contract:
//
//   /aad/{tenant}/oauth2/v2.0/token   Entra ID client credentials (form fields
//                                     client_id, client_secret, grant_type,
//                                     scope); errors {"error","error_description"}
//   /msi/token                        managed identity (resource, api-version
//                                     2019-08-01, X-IDENTITY-HEADER)
//   /arm/...                          ARM: Bearer token, path shapes, the right
//                                     api-version on every call; errors
//                                     {"error":{"code","message"}}
//   /scm/{app}/api/...                Kudu: zipdeploy?isAsync=true (Bearer,
//                                     application/zip) -> 202 + Location; the
//                                     status polls end in Success (4) or Failed (3)
//   /site/{app}/api/{function}        the app: an AzureTestHost running the
//                                     deployed package; the key is checked by it
//
// So the executor's endpoints are: authority {url}/aad, ARM {url}/arm, scm
// template {url}/scm/{app}, site template {url}/site/{app}, identity
// endpoint {url}/msi/token.
#pragma once

#include "common/fake_platform.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace blueprint::test {

struct FakeAzureOptions {
    std::string tenant = "tenant-0001";
    std::string client_id = "client-0001";
    std::string client_secret = "s3cret-Value+with/chars=";
    std::string subscription = "sub-0001";
    std::string identity_header = "mi-header-value-0001";
    std::chrono::seconds token_lifetime{3600};
    /// Kudu answers "in progress" this many times before the outcome.
    int deploy_polls = 2;
    /// The site PUT answers 202 + Azure-AsyncOperation on creation.
    bool async_site_create = true;
};

class FakeAzure {
public:
    explicit FakeAzure(FakeAzureOptions options = {});
    ~FakeAzure();
    FakeAzure(const FakeAzure&) = delete;
    FakeAzure& operator=(const FakeAzure&) = delete;

    std::string url() const;
    std::string authority() const { return url() + "/aad"; }
    std::string arm() const { return url() + "/arm"; }
    std::string scm_template() const { return url() + "/scm/{app}"; }
    std::string site_template() const { return url() + "/site/{app}"; }
    std::string identity_endpoint() const { return url() + "/msi/token"; }
    const FakeAzureOptions& options() const noexcept { return options_; }

    // ---- knobs (thread-safe) ----
    /// The next zip deployment fails (Kudu status 3).
    void fail_next_deployment(std::string message = "Deployment failed: bootstrap could not start");
    /// The next `n` invocations get 429 (Retry-After: 0).
    void throttle_invocations(int n);
    /// Revokes every token issued so far (ARM answers 401 to them).
    void revoke_tokens();
    /// Replaces the app's function keys (listKeys returns the new one).
    void rotate_function_key(const std::string& app);

    // ---- observations (thread-safe) ----
    std::vector<HttpExchange> requests() const;
    /// Requests whose path starts with `prefix` (e.g. "/aad").
    std::size_t count(std::string_view prefix) const;
    std::size_t tokens_issued() const;
    /// Function names the app holds (empty when it does not exist).
    std::vector<std::string> functions(const std::string& app) const;
    bool app_exists(const std::string& app) const;
    bool plan_exists(const std::string& app) const;
    std::map<std::string, std::string> app_settings(const std::string& app) const;
    std::string function_key(const std::string& app) const;
    /// Every request/response body and header seen, for secret scans.
    std::string transcript() const;

    struct State;

private:
    FakeAzureOptions options_;
    std::shared_ptr<State> state_;
};

}  // namespace blueprint::test
