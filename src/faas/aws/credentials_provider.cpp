// The cached credential chain. Kept apart from credentials.cpp so that the
// pure parsers link without the HTTP client.
#include "faas/aws/credentials.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <mutex>

namespace blueprint::faas::aws {

namespace net = boost::asio;

struct CredentialsProvider::State {
    http::HttpClient client;
    CredentialsProviderOptions options;
    std::mutex mutex;
    std::optional<AwsCredentials> cached;
    // credential_process blocks; it runs here, never on an I/O thread.
    std::unique_ptr<net::thread_pool> blocking_pool;

    State(http::HttpClient c, CredentialsProviderOptions o) : client(std::move(c)), options(std::move(o)) {}
    ~State() {
        if (blocking_pool) blocking_pool->join();
    }

    net::thread_pool& pool() {
        std::lock_guard lock(mutex);
        if (!blocking_pool) blocking_pool = std::make_unique<net::thread_pool>(1);
        return *blocking_pool;
    }
};

namespace {

std::unexpected<CredentialsError> fail(credentials_errc e, std::string message) {
    return std::unexpected(CredentialsError::make(e, std::move(message)));
}

http::Request prepared(http::Request r, const CredentialsProviderOptions& o) {
    r.timeout = o.fetch_timeout;
    // Link-local endpoints answer fast or not at all: one retry is enough.
    http::RetryPolicy retry;
    retry.max_attempts = 2;
    retry.max_elapsed = o.fetch_timeout * 2;
    r.retry = retry;
    r.idempotent = true;
    return r;
}

net::awaitable<CredResult<AwsCredentials>> from_profile(CredentialsProvider::State& st) {
    const auto& env = st.options.env;
    auto paths = shared_file_paths(env);
    std::string profile = st.options.profile.value_or(paths.profile);

    std::optional<IniFile> creds_ini, config_ini;
    if (auto text = read_text_file(paths.credentials_file)) {
        auto ini = parse_ini(*text);
        if (!ini) co_return fail(credentials_errc::malformed, "shared credentials file: " + ini.error().message);
        creds_ini = std::move(*ini);
    }
    if (auto text = read_text_file(paths.config_file)) {
        auto ini = parse_ini(*text);
        if (!ini) co_return fail(credentials_errc::malformed, "config file: " + ini.error().message);
        config_ini = std::move(*ini);
    }
    auto pc = profile_credentials(creds_ini ? &*creds_ini : nullptr, config_ini ? &*config_ini : nullptr, profile);
    if (!pc) co_return std::unexpected(pc.error());
    if (pc->credentials) co_return std::move(*pc->credentials);

    // Named, not a temporary inside the co_await: g++ 12 destroys such a
    // lambda's captures twice (a double free).
    auto task = [command = *pc->credential_process,
                 timeout = st.options.process_timeout]() -> net::awaitable<CredResult<AwsCredentials>> {
        co_return run_credential_process(command, timeout);
    };
    auto result = co_await net::co_spawn(st.pool(), std::move(task), net::use_awaitable);
    if (result) result->source = "profile:" + profile + ":credential_process";
    co_return result;
}

net::awaitable<CredResult<AwsCredentials>> from_container(CredentialsProvider::State& st) {
    auto req = container_credentials_request(st.options.env);
    if (!req) co_return std::unexpected(req.error());
    auto request = prepared(std::move(*req), st.options);
    auto res = co_await st.client.send(std::move(request));
    if (!res) co_return fail(credentials_errc::fetch_failed, "container credentials: " + res.error().message);
    co_return parse_container_credentials(res->status, res->body);
}

net::awaitable<CredResult<AwsCredentials>> from_imds(CredentialsProvider::State& st) {
    auto endpoint = imds_endpoint(st.options.env);
    if (!endpoint) co_return fail(credentials_errc::not_found, "IMDS disabled");
    auto token_req = prepared(imds_token_request(*endpoint), st.options);
    auto tok = co_await st.client.send(std::move(token_req));
    // No answer at all means we are not on EC2: the chain simply has nothing.
    if (!tok) co_return fail(credentials_errc::not_found, "no instance metadata service: " + tok.error().message);
    auto token = parse_imds_token(tok->status, tok->body);
    if (!token) co_return std::unexpected(token.error());

    auto role_req = prepared(imds_role_request(*endpoint, *token), st.options);
    auto list = co_await st.client.send(std::move(role_req));
    if (!list) co_return fail(credentials_errc::fetch_failed, "IMDS: " + list.error().message);
    auto role = parse_imds_role(list->status, list->body);
    if (!role) co_return std::unexpected(role.error());

    auto creds_req = prepared(imds_credentials_request(*endpoint, *token, *role), st.options);
    auto creds = co_await st.client.send(std::move(creds_req));
    if (!creds) co_return fail(credentials_errc::fetch_failed, "IMDS: " + creds.error().message);
    co_return parse_imds_credentials(creds->status, creds->body);
}

net::awaitable<CredResult<AwsCredentials>> walk_chain(CredentialsProvider::State& st) {
    if (st.options.explicit_credentials) {
        auto c = *st.options.explicit_credentials;
        if (!c.complete()) co_return fail(credentials_errc::incomplete, "explicit credentials lack a key id or secret");
        if (c.source.empty()) c.source = "explicit";
        co_return c;
    }
    auto env = credentials_from_env(st.options.env);
    if (env || !env.error().is(credentials_errc::not_found)) co_return env;

    auto profile = co_await from_profile(st);
    if (profile || !profile.error().is(credentials_errc::not_found)) co_return profile;

    if (st.options.use_container) {
        auto c = co_await from_container(st);
        if (c || !c.error().is(credentials_errc::not_found)) co_return c;
    }
    if (st.options.use_imds) {
        auto i = co_await from_imds(st);
        if (i || !i.error().is(credentials_errc::not_found)) co_return i;
    }
    co_return fail(credentials_errc::not_found,
                   "no credentials in the environment, the shared files, the container endpoint or IMDS");
}

}  // namespace

CredentialsProvider::CredentialsProvider(http::HttpClient client, CredentialsProviderOptions options)
    : state_(std::make_shared<State>(std::move(client), std::move(options))) {}

net::awaitable<std::expected<AwsCredentials, FaasError>> CredentialsProvider::get() {
    auto st = state_;  // the fetch outlives a provider destroyed mid-await
    const auto margin = std::chrono::duration_cast<Clock::duration>(st->options.refresh_margin);
    {
        std::lock_guard lock(st->mutex);
        if (st->cached && !st->cached->expires_within(st->options.now(), margin)) co_return *st->cached;
    }
    auto result = co_await walk_chain(*st);
    if (!result) co_return std::unexpected(result.error().to_faas_error());
    if (result->expiration && *result->expiration <= st->options.now())
        co_return std::unexpected(
            CredentialsError::make(credentials_errc::expired, "credentials from " + result->source + " are already expired")
                .to_faas_error());
    std::lock_guard lock(st->mutex);
    st->cached = *result;
    co_return std::move(*result);
}

void CredentialsProvider::invalidate() {
    std::lock_guard lock(state_->mutex);
    state_->cached.reset();
}

}  // namespace blueprint::faas::aws
