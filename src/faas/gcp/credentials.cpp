// Google credentials and the token cache.
#include "faas/gcp/credentials.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdlib>
#include <functional>
#include <vector>
#include <fstream>
#include <iterator>

namespace blueprint::faas::gcp::detail {

namespace {

constexpr std::chrono::milliseconds token_request_timeout{30'000};

std::expected<std::string, FaasError> read_key_file(const std::string& path, std::string_view how) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return std::unexpected(FaasError::make(faas_errc::unauthorized, "service-account key file " + path + " (" +
                                                                            std::string(how) + ") cannot be read"));
    std::string text((std::istreambuf_iterator<char>(in)), {});
    if (text.size() > (1u << 20))
        return std::unexpected(FaasError::make(faas_errc::unauthorized,
                                               "service-account key file " + path + " is larger than 1 MiB"));
    return text;
}

}  // namespace

std::expected<std::shared_ptr<TokenSource>, FaasError> TokenSource::create(const Credentials& creds,
                                                                          const Endpoints& endpoints) {
    auto source = std::make_shared<TokenSource>();
    std::string text;
    std::string origin;
    if (!creds.key_json.empty()) {
        text = creds.key_json;
        origin = "(inline JSON)";
    } else {
        std::string path = creds.key_file;
        std::string how = "credentials file option";
        if (path.empty()) {
            if (const char* env = std::getenv("GOOGLE_APPLICATION_CREDENTIALS"); env && *env) {
                path = env;
                how = "GOOGLE_APPLICATION_CREDENTIALS";
            }
        }
        if (!path.empty()) {
            auto read = read_key_file(path, how);
            if (!read) return std::unexpected(std::move(read.error()));
            text = std::move(*read);
            origin = path;
        }
    }
    if (!origin.empty()) {
        auto key = parse_service_account_key(text, origin);
        if (!key) return std::unexpected(std::move(key.error()));
        source->token_uri_ = endpoints.token_uri.empty() ? key->token_uri : endpoints.token_uri;
        source->description_ = "service account " + key->client_email + " (key " + origin + ")";
        source->key_ = std::move(*key);
        return source;
    }
    if (!creds.allow_metadata_server)
        return std::unexpected(FaasError::make(
            faas_errc::unauthorized,
            "no Google credentials: give a service-account key file (or set GOOGLE_APPLICATION_CREDENTIALS)"));
    std::string host = endpoints.metadata_host;
    if (host.empty())
        if (const char* env = std::getenv("GCE_METADATA_HOST"); env && *env) host = env;
    if (host.empty()) host = std::string(default_metadata_host);
    source->metadata_host_ = host;
    source->description_ = "metadata server " + host;
    return source;
}

std::optional<std::string> TokenSource::cached(const std::optional<Cached>& c) const {
    if (c && is_fresh(c->token, Clock::now(), c->obtained)) return c->token.value;
    return std::nullopt;
}

void TokenSource::forget(std::string_view token) {
    std::lock_guard lock(mutex_);
    if (access_ && access_->token.value == token) access_.reset();
    std::erase_if(id_tokens_, [&](const auto& kv) { return kv.second.token.value == token; });
}

struct TokenSource::Flight {
    std::optional<Result<std::string>> done;
    std::vector<std::function<void(Result<std::string>)>> waiters;
};

awaitable<Result<std::string>> TokenSource::join(std::shared_ptr<Flight> flight) {
    namespace asio = boost::asio;
    // Named, not a temporary inside co_await (a g++ 12 bug destroys those twice).
    auto initiation = [this, flight](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto deliver = [h](Result<std::string> r) {
            auto ex = asio::get_associated_executor(*h);
            asio::post(ex, [h, r = std::move(r)]() mutable { std::move (*h)(std::move(r)); });
        };
        std::unique_lock lock(mutex_);
        if (flight->done) {
            auto r = *flight->done;
            lock.unlock();
            deliver(std::move(r));
            return;
        }
        flight->waiters.push_back(std::move(deliver));
    };
    co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, void(Result<std::string>)>(
        initiation, asio::use_awaitable);
}

awaitable<Result<std::string>> TokenSource::single_flight(std::string key, awaitable<Result<std::string>> fetch) {
    std::shared_ptr<Flight> flight;
    bool leader = false;
    {
        std::lock_guard lock(mutex_);
        auto& slot = flights_[key];
        if (!slot) {
            slot = std::make_shared<Flight>();
            leader = true;
        }
        flight = slot;
    }
    if (!leader) co_return co_await join(std::move(flight));
    auto finish = [&](Result<std::string> r) {
        std::vector<std::function<void(Result<std::string>)>> waiters;
        {
            std::lock_guard lock(mutex_);
            flight->done = r;
            waiters.swap(flight->waiters);
            flights_.erase(key);
        }
        for (auto& w : waiters) w(r);
    };
    try {
        auto r = co_await std::move(fetch);
        finish(r);
        co_return r;
    } catch (...) {
        finish(std::unexpected(FaasError::make(faas_errc::infrastructure, "token request abandoned")));
        throw;
    }
}

awaitable<Result<std::string>> TokenSource::access_token(const http::HttpClient& client) {
    {
        std::lock_guard lock(mutex_);
        if (auto t = cached(access_)) co_return std::move(*t);
    }
    co_return co_await single_flight("access", fetch_access_token(client));
}

awaitable<Result<std::string>> TokenSource::id_token(const http::HttpClient& client, std::string audience) {
    {
        std::lock_guard lock(mutex_);
        auto it = id_tokens_.find(audience);
        if (it != id_tokens_.end())
            if (auto t = cached(it->second)) co_return std::move(*t);
    }
    auto key = "id:" + audience;
    co_return co_await single_flight(std::move(key), fetch_id_token(client, std::move(audience)));
}

awaitable<Result<std::string>> TokenSource::fetch_access_token(const http::HttpClient& client) {
    const auto now = Clock::now();
    http::Request req;
    req.timeout = token_request_timeout;
    req.idempotent = true;  // minting a token twice is harmless
    std::string what;
    if (key_) {
        AssertionRequest ar;
        ar.audience = token_uri_;
        ar.scope = std::string(cloud_platform_scope);
        ar.now = now;
        auto assertion = make_assertion(*key_, ar);
        if (!assertion) co_return std::unexpected(std::move(assertion.error()));
        req.method = "POST";
        req.url = token_uri_;
        req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
        req.body = token_request_body(*assertion);
        what = "access token from " + token_uri_ + " for " + key_->client_email;
    } else {
        req.method = "GET";
        req.url = "http://" + metadata_host_ + "/computeMetadata/v1/instance/service-accounts/default/token";
        req.headers.emplace_back("Metadata-Flavor", "Google");
        what = "access token from the metadata server " + metadata_host_;
    }
    auto resp = co_await client.send(std::move(req));
    if (!resp)
        co_return std::unexpected(FaasError::make(faas_errc::infrastructure, what + ": " + resp.error().message));
    auto token = parse_access_token_response(resp->status, resp->body, now, what);
    if (!token) co_return std::unexpected(std::move(token.error()));
    std::string value = token->value;
    {
        std::lock_guard lock(mutex_);
        access_ = Cached{std::move(*token), now};
    }
    co_return value;
}

awaitable<Result<std::string>> TokenSource::fetch_id_token(const http::HttpClient& client, std::string audience) {
    const auto now = Clock::now();
    http::Request req;
    req.timeout = token_request_timeout;
    req.idempotent = true;
    std::string what;
    bool raw = false;
    if (key_) {
        AssertionRequest ar;
        ar.audience = token_uri_;
        ar.target_audience = audience;
        ar.now = now;
        auto assertion = make_assertion(*key_, ar);
        if (!assertion) co_return std::unexpected(std::move(assertion.error()));
        req.method = "POST";
        req.url = token_uri_;
        req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
        req.body = token_request_body(*assertion);
        what = "ID token from " + token_uri_ + " for " + key_->client_email;
    } else {
        req.method = "GET";
        req.url = "http://" + metadata_host_ + "/computeMetadata/v1/instance/service-accounts/default/identity?audience=" +
                  query_encode(audience) + "&format=full";
        req.headers.emplace_back("Metadata-Flavor", "Google");
        what = "ID token from the metadata server " + metadata_host_;
        raw = true;
    }
    auto resp = co_await client.send(std::move(req));
    if (!resp)
        co_return std::unexpected(FaasError::make(faas_errc::infrastructure, what + ": " + resp.error().message));
    auto token = parse_id_token_response(resp->status, resp->body, now, raw, what);
    if (!token) co_return std::unexpected(std::move(token.error()));
    std::string value = token->value;
    {
        std::lock_guard lock(mutex_);
        id_tokens_[audience] = Cached{std::move(*token), now};
    }
    co_return value;
}

}  // namespace blueprint::faas::gcp::detail
