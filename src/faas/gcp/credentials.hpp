// Google credentials: a service-account key (JWT bearer grant) or the GCE
// metadata server, with both token kinds cached until shortly before expiry.
#pragma once

#include <blueprint/faas/executor.hpp>
#include <blueprint/faas/gcp.hpp>
#include <blueprint/faas/http_client.hpp>

#include "faas/gcp/jwt.hpp"
#include "faas/gcp/token.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace blueprint::faas::gcp::detail {

/// Default metadata host; GCE_METADATA_HOST overrides it (as Google's own libraries do).
inline constexpr std::string_view default_metadata_host = "metadata.google.internal";

/// Thread-safe; tokens are shared by every copy of the executor.
class TokenSource {
public:
    /// Loads the key named by `creds` (or $GOOGLE_APPLICATION_CREDENTIALS),
    /// or chooses the metadata server. No I/O besides reading the key file.
    static std::expected<std::shared_ptr<TokenSource>, FaasError> create(const Credentials& creds,
                                                                        const Endpoints& endpoints);

    /// An OAuth access token with the cloud-platform scope.
    awaitable<Result<std::string>> access_token(const http::HttpClient& client);
    /// An ID token whose audience is `audience` (the function URL).
    awaitable<Result<std::string>> id_token(const http::HttpClient& client, std::string audience);
    /// Drops a cached token the server refused (401), so the next call mints one.
    void forget(std::string_view token);

    /// "service account NAME (key FILE)" or "metadata server HOST": for messages.
    const std::string& description() const noexcept { return description_; }
    /// The key's project_id, if any.
    const std::string& key_project() const noexcept { return key_ ? key_->project_id : empty_; }

    struct Flight;

private:
    /// One request per token at a time: concurrent callers that find no
    /// fresh token wait for the one in flight instead of each minting one.
    awaitable<Result<std::string>> single_flight(std::string key, awaitable<Result<std::string>> fetch);
    awaitable<Result<std::string>> join(std::shared_ptr<Flight> flight);
    awaitable<Result<std::string>> fetch_access_token(const http::HttpClient& client);
    awaitable<Result<std::string>> fetch_id_token(const http::HttpClient& client, std::string audience);

    struct Cached {
        Token token;
        Clock::time_point obtained;
    };
    std::optional<std::string> cached(const std::optional<Cached>& c) const;

    std::optional<ServiceAccountKey> key_;
    std::string token_uri_;
    std::string metadata_host_;
    std::string description_;
    std::string empty_;
    std::mutex mutex_;
    std::optional<Cached> access_;
    std::map<std::string, Cached> id_tokens_;
    std::map<std::string, std::shared_ptr<Flight>> flights_;
};

}  // namespace blueprint::faas::gcp::detail
