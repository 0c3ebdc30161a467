// AWS credentials and the standard credential chain.
//
// The chain (ARCHITECTURE.md §6): explicit keys; AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; the shared credentials and
// config files with AWS_PROFILE (static keys or credential_process);
// container credentials; EC2 IMDSv2. Every parser and request builder here
// is pure; the fetching lives in CredentialsProvider.
//
// Secrets never leave this module by accident: AwsCredentials prints only
// its key id, and no error message carries a secret key or session token.
#pragma once

#include <blueprint/error.hpp>
#include <blueprint/faas/error.hpp>
#include <blueprint/faas/http_client.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <expected>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace blueprint::faas::aws {

using Clock = std::chrono::system_clock;

/// A set of AWS credentials. Print it freely: operator<< and to_string show
/// the key id only.
struct AwsCredentials {
    std::string access_key_id{};
    std::string secret_access_key{};
    /// Empty for long-term keys.
    std::string session_token{};
    /// When temporary credentials stop working; none for long-term keys.
    std::optional<Clock::time_point> expiration{};
    /// Which provider produced them ("environment", "profile:dev", "imds", ...).
    std::string source{};

    bool complete() const noexcept { return !access_key_id.empty() && !secret_access_key.empty(); }
    /// True when they expire before now + margin.
    bool expires_within(Clock::time_point now, Clock::duration margin) const noexcept {
        return expiration && *expiration <= now + margin;
    }
};

/// "AwsCredentials{access_key_id=AKID, secret=<redacted>, session_token=<redacted>|<none>, ...}".
std::string to_string(const AwsCredentials& credentials);
std::ostream& operator<<(std::ostream& os, const AwsCredentials& credentials);

/// Why credentials could not be had.
enum class credentials_errc {
    /// This source has no credentials (the chain moves on to the next one).
    not_found = 1,
    /// Keys are half there: an id without a secret, or the reverse.
    incomplete,
    /// A file or reply could not be parsed.
    malformed,
    /// credential_process failed to start, exited non-zero, or said nothing.
    process_failed,
    /// credential_process answered a Version other than 1.
    unsupported_version,
    /// The credentials are already expired.
    expired,
    /// The metadata/container endpoint could not be reached or refused.
    fetch_failed,
    /// A container credentials URI that is not allowed (plain http to a non-loopback host).
    invalid_uri,
    /// The profile uses a mechanism this library does not implement (SSO, assume-role).
    unsupported,
};

const boost::system::error_category& credentials_category() noexcept;
inline error_code make_error_code(credentials_errc e) noexcept { return {static_cast<int>(e), credentials_category()}; }

/// A credentials failure. The message never holds a secret or token.
struct CredentialsError {
    error_code code;
    std::string message;

    static CredentialsError make(credentials_errc e, std::string message) {
        return {make_error_code(e), std::move(message)};
    }
    bool is(credentials_errc e) const noexcept { return code == make_error_code(e); }
    /// unauthorized for missing/bad credentials, infrastructure for fetch failures.
    FaasError to_faas_error() const;
};

template <class T> using CredResult = std::expected<T, CredentialsError>;

/// Reads an environment variable; nullopt when unset. Injected so tests
/// never touch the process environment.
using Env = std::function<std::optional<std::string>(std::string_view)>;
/// The process environment (getenv).
Env process_env();
/// A fixed environment, for tests.
Env map_env(std::map<std::string, std::string, std::less<>> vars);

// ---- environment ------------------------------------------------------------

/// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (or
/// AWS_SECURITY_TOKEN). not_found when neither key is set, incomplete when
/// only one is. Empty values count as unset.
CredResult<AwsCredentials> credentials_from_env(const Env& env);

// ---- shared credentials / config files -----------------------------------

/// An INI file: section name -> key -> value. Sub-sections (indented lines
/// under "key =") are skipped.
struct IniFile {
    std::map<std::string, std::map<std::string, std::string, std::less<>>, std::less<>> sections;

    /// A section's key, or nullptr.
    const std::string* get(std::string_view section, std::string_view key) const;
    bool has_section(std::string_view section) const { return sections.contains(section); }
};

/// Parses an AWS-style INI file. Comments start with '#' or ';'. A line
/// that is neither a section, a key = value, a comment nor a sub-section
/// continuation is `malformed`; the message names the line number only.
CredResult<IniFile> parse_ini(std::string_view text);

/// Where the shared files are and which profile to use.
struct SharedFilePaths {
    std::string credentials_file;  // AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials
    std::string config_file;       // AWS_CONFIG_FILE or ~/.aws/config
    std::string profile;           // AWS_PROFILE or "default"
};
SharedFilePaths shared_file_paths(const Env& env);

/// AWS_REGION, else AWS_DEFAULT_REGION, else the profile's "region" in the
/// config file (`config` is that file's parsed content, may be null), else nullopt.
std::optional<std::string> resolve_region(const Env& env, const IniFile* config, std::string_view profile);

/// What a profile says about credentials.
struct ProfileCredentials {
    /// Static keys, when the profile holds them.
    std::optional<AwsCredentials> credentials;
    /// The credential_process command, when it names one instead.
    std::optional<std::string> credential_process;
};

/// Resolves `profile` from the credentials file (section [name]) and the
/// config file (section [profile name], or [default]). Keys in the
/// credentials file win. not_found when neither file has the profile or it
/// holds neither keys nor credential_process; unsupported for SSO and
/// assume-role profiles. Either file may be null (absent).
CredResult<ProfileCredentials> profile_credentials(const IniFile* credentials_file, const IniFile* config_file,
                                                   std::string_view profile);

// ---- credential_process -------------------------------------------------------

/// Parses credential_process output: {"Version":1,"AccessKeyId","SecretAccessKey",
/// "SessionToken"?,"Expiration"?}.
CredResult<AwsCredentials> parse_credential_process_output(std::string_view json);

/// Runs `command` with /bin/sh -c, reads its stdout (at most 64 KiB) and
/// parses it. Blocking: call it off the I/O threads. stderr is inherited.
/// A command still running after `timeout` is killed with its process group
/// (a helper that waits for a login prompt no one answers would otherwise
/// hold every later credential lookup).
CredResult<AwsCredentials> run_credential_process(const std::string& command,
                                                  std::chrono::milliseconds timeout = std::chrono::seconds(60));

// ---- container credentials (ECS, EKS pod identity) ---------------------------

/// The link-local address of the ECS credentials endpoint.
inline constexpr std::string_view container_host = "169.254.170.2";

/// The request for container credentials, from AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
/// (http://169.254.170.2 + it) or AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or
/// http to a loopback or the ECS/EKS link-local hosts), with
/// AWS_CONTAINER_AUTHORIZATION_TOKEN (or the content of
/// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, read via `read_file`) as Authorization.
/// not_found when neither URI variable is set.
using FileReader = std::function<std::optional<std::string>(const std::string& path)>;
/// Reads a whole file; nullopt when it cannot.
std::optional<std::string> read_text_file(const std::string& path);
CredResult<http::Request> container_credentials_request(const Env& env, const FileReader& read_file = read_text_file);

/// Parses the container endpoint's reply {AccessKeyId, SecretAccessKey, Token, Expiration}.
CredResult<AwsCredentials> parse_container_credentials(int status, std::string_view body);

// ---- EC2 instance metadata (IMDSv2) ---------------------------------------------

/// AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254; nullopt
/// when AWS_EC2_METADATA_DISABLED is "true".
std::optional<std::string> imds_endpoint(const Env& env);
/// PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds.
http::Request imds_token_request(std::string_view endpoint, std::chrono::seconds ttl = std::chrono::hours(6));
/// The session token from the token reply.
CredResult<std::string> parse_imds_token(int status, std::string_view body);
/// GET /latest/meta-data/iam/security-credentials/ (lists the role).
http::Request imds_role_request(std::string_view endpoint, std::string_view token);
/// The first role name of the listing; not_found when there is none (no
/// instance profile) or the status is 404.
CredResult<std::string> parse_imds_role(int status, std::string_view body);
/// GET /latest/meta-data/iam/security-credentials/{role}.
http::Request imds_credentials_request(std::string_view endpoint, std::string_view token, std::string_view role);
/// Parses {Code:"Success", AccessKeyId, SecretAccessKey, Token, Expiration}.
CredResult<AwsCredentials> parse_imds_credentials(int status, std::string_view body);

// ---- the chain, cached ---------------------------------------------------------

struct CredentialsProviderOptions {
    /// Step 1 of the chain: used as-is when set.
    std::optional<AwsCredentials> explicit_credentials;
    /// Overrides AWS_PROFILE.
    std::optional<std::string> profile;
    /// Where environment variables come from.
    Env env = process_env();
    bool use_container = true;
    bool use_imds = true;
    /// Refresh this long before the credentials expire.
    std::chrono::seconds refresh_margin{300};
    /// Deadline of each metadata/container request.
    std::chrono::milliseconds fetch_timeout{2'000};
    /// How long a profile's credential_process may run before it is killed.
    std::chrono::milliseconds process_timeout{60'000};
    /// The clock; injected for tests.
    std::function<Clock::time_point()> now = [] { return Clock::now(); };
};

/// The standard chain, cached. Thread-safe; copies share the cache.
///
/// get() returns the cached credentials until they are within
/// `refresh_margin` of expiry, then walks the chain again. Concurrent
/// callers during a refresh may each walk the chain; the last result wins.
/// Cancelling the awaiting coroutine cancels the fetch in progress.
class CredentialsProvider {
public:
    CredentialsProvider(http::HttpClient client, CredentialsProviderOptions options = {});

    /// Credentials, or a FaasError (unauthorized when no source has any,
    /// infrastructure when a source failed to answer). Never holds a secret
    /// in its message.
    boost::asio::awaitable<std::expected<AwsCredentials, FaasError>> get();
    /// Forget the cache (e.g. after a 403 ExpiredToken).
    void invalidate();

    struct State;  // opaque; public only so the .cpp's free coroutines can name it

private:
    std::shared_ptr<State> state_;
};

}  // namespace blueprint::faas::aws

template <>
struct boost::system::is_error_code_enum<blueprint::faas::aws::credentials_errc> : std::true_type {};
