#include "faas/aws/credentials.hpp"

#include "faas/aws/sigv4.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace blueprint::faas::aws {

namespace {

class CredentialsCategory final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "blueprint.aws.credentials"; }
    std::string message(int ev) const override {
        switch (static_cast<credentials_errc>(ev)) {
        case credentials_errc::not_found: return "no credentials found";
        case credentials_errc::incomplete: return "incomplete credentials";
        case credentials_errc::malformed: return "malformed credentials source";
        case credentials_errc::process_failed: return "credential_process failed";
        case credentials_errc::unsupported_version: return "unsupported credential_process version";
        case credentials_errc::expired: return "credentials expired";
        case credentials_errc::fetch_failed: return "credentials endpoint failed";
        case credentials_errc::invalid_uri: return "container credentials URI not allowed";
        case credentials_errc::unsupported: return "unsupported credentials mechanism";
        }
        return "unknown credentials error";
    }
};

std::string_view trim(std::string_view s) {
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && ws(s.front())) s.remove_prefix(1);
    while (!s.empty() && ws(s.back())) s.remove_suffix(1);
    return s;
}

std::optional<std::string> non_empty(const Env& env, std::string_view name) {
    auto v = env(name);
    if (v && !v->empty()) return v;
    return std::nullopt;
}

std::unexpected<CredentialsError> fail(credentials_errc e, std::string message) {
    return std::unexpected(CredentialsError::make(e, std::move(message)));
}

// Reads the string member `key` of `obj`; empty when absent or not a string.
std::string string_member(const boost::json::object& obj, std::string_view key) {
    if (auto* v = obj.if_contains(key); v && v->is_string()) return std::string(v->get_string());
    return {};
}

// The common shape of credential_process, container and IMDS replies.
// `what` names the source in messages; values are never echoed.
CredResult<AwsCredentials> credentials_from_json(std::string_view body, std::string_view what,
                                                 std::string_view token_key, std::string source) {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) return fail(credentials_errc::malformed, std::string(what) + ": reply is not a JSON object");
    const auto& obj = v.get_object();
    AwsCredentials c;
    c.access_key_id = string_member(obj, "AccessKeyId");
    c.secret_access_key = string_member(obj, "SecretAccessKey");
    c.session_token = string_member(obj, token_key);
    c.source = std::move(source);
    if (c.access_key_id.empty() || c.secret_access_key.empty())
        return fail(credentials_errc::incomplete, std::string(what) + ": AccessKeyId or SecretAccessKey missing");
    if (auto* e = obj.if_contains("Expiration"); e && !e->is_null()) {
        if (!e->is_string()) return fail(credentials_errc::malformed, std::string(what) + ": Expiration is not a string");
        auto t = sigv4::parse_iso8601(e->get_string());
        if (!t) return fail(credentials_errc::malformed, std::string(what) + ": Expiration is not an ISO 8601 time");
        c.expiration = *t;
    }
    return c;
}

bool is_loopback_or_container_host(std::string_view host) {
    if (host == "localhost" || host == "[::1]" || host == "::1") return true;
    if (host == container_host || host == "169.254.170.23" || host == "[fd00:ec2::23]") return true;
    // 127.0.0.0/8
    if (host.starts_with("127.")) {
        int dots = 0;
        for (char ch : host) {
            if (ch == '.') ++dots;
            else if (ch < '0' || ch > '9') return false;
        }
        return dots == 3;
    }
    return false;
}

bool has_ctl(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return true;
    return false;
}

std::string join_url(std::string_view endpoint, std::string_view path) {
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.remove_suffix(1);
    std::string url(endpoint);
    url.append(path);
    return url;
}

}  // namespace

const boost::system::error_category& credentials_category() noexcept {
    static const CredentialsCategory cat;
    return cat;
}

FaasError CredentialsError::to_faas_error() const {
    faas_errc kind = faas_errc::unauthorized;
    if (code == make_error_code(credentials_errc::fetch_failed) || code == make_error_code(credentials_errc::process_failed))
        kind = faas_errc::infrastructure;
    return FaasError::make(kind, "AWS credentials: " + message);
}

std::string to_string(const AwsCredentials& c) {
    std::string out = "AwsCredentials{access_key_id=";
    out.append(c.access_key_id.empty() ? "<none>" : c.access_key_id);
    out.append(", secret=").append(c.secret_access_key.empty() ? "<none>" : "<redacted>");
    out.append(", session_token=").append(c.session_token.empty() ? "<none>" : "<redacted>");
    if (c.expiration) out.append(", expiration=").append(sigv4::amz_date(*c.expiration));
    if (!c.source.empty()) out.append(", source=").append(c.source);
    out.push_back('}');
    return out;
}

std::ostream& operator<<(std::ostream& os, const AwsCredentials& c) { return os << to_string(c); }

Env process_env() {
    return [](std::string_view name) -> std::optional<std::string> {
        std::string n(name);
        if (const char* v = std::getenv(n.c_str())) return std::string(v);
        return std::nullopt;
    };
}

Env map_env(std::map<std::string, std::string, std::less<>> vars) {
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        if (auto it = vars.find(name); it != vars.end()) return it->second;
        return std::nullopt;
    };
}

CredResult<AwsCredentials> credentials_from_env(const Env& env) {
    auto id = non_empty(env, "AWS_ACCESS_KEY_ID");
    auto secret = non_empty(env, "AWS_SECRET_ACCESS_KEY");
    if (!id && !secret) return fail(credentials_errc::not_found, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
    if (!id) return fail(credentials_errc::incomplete, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
    if (!secret) return fail(credentials_errc::incomplete, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    AwsCredentials c;
    c.access_key_id = std::move(*id);
    c.secret_access_key = std::move(*secret);
    if (auto t = non_empty(env, "AWS_SESSION_TOKEN")) c.session_token = std::move(*t);
    else if (auto t2 = non_empty(env, "AWS_SECURITY_TOKEN")) c.session_token = std::move(*t2);
    c.source = "environment";
    return c;
}

const std::string* IniFile::get(std::string_view section, std::string_view key) const {
    auto s = sections.find(section);
    if (s == sections.end()) return nullptr;
    auto k = s->second.find(key);
    return k == s->second.end() ? nullptr : &k->second;
}

CredResult<IniFile> parse_ini(std::string_view text) {
    IniFile ini;
    std::map<std::string, std::string, std::less<>>* section = nullptr;
    std::string* last_value = nullptr;
    bool in_subsection = false;
    std::size_t line_no = 0, pos = 0;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view raw = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++line_no;
        std::string_view line = trim(raw);
        if (line.empty() || line.front() == '#' || line.front() == ';') continue;
        bool indented = raw.front() == ' ' || raw.front() == '\t';
        if (indented && last_value) {
            // "s3 =" followed by indented lines is a sub-section; any other
            // indented line continues the previous value.
            if (in_subsection) continue;
            last_value->push_back('\n');
            last_value->append(line);
            continue;
        }
        if (line.front() == '[') {
            auto close = line.find(']');
            if (close == std::string_view::npos)
                return fail(credentials_errc::malformed, "line " + std::to_string(line_no) + ": unterminated section header");
            std::string name(trim(line.substr(1, close - 1)));
            section = &ini.sections[name];
            last_value = nullptr;
            in_subsection = false;
            continue;
        }
        auto eq = line.find('=');
        if (eq == std::string_view::npos)
            return fail(credentials_errc::malformed, "line " + std::to_string(line_no) + ": expected key = value");
        if (!section)
            return fail(credentials_errc::malformed, "line " + std::to_string(line_no) + ": key outside any section");
        std::string key(trim(line.substr(0, eq)));
        if (key.empty()) return fail(credentials_errc::malformed, "line " + std::to_string(line_no) + ": empty key");
        std::string value(trim(line.substr(eq + 1)));
        in_subsection = value.empty();
        last_value = &((*section)[key] = std::move(value));
    }
    return ini;
}

SharedFilePaths shared_file_paths(const Env& env) {
    std::string home = non_empty(env, "HOME").value_or("");
    auto expand = [&](std::string p) {
        if (p == "~" || p.starts_with("~/")) p = home + p.substr(1);
        return p;
    };
    SharedFilePaths p;
    p.credentials_file = expand(non_empty(env, "AWS_SHARED_CREDENTIALS_FILE").value_or("~/.aws/credentials"));
    p.config_file = expand(non_empty(env, "AWS_CONFIG_FILE").value_or("~/.aws/config"));
    p.profile = non_empty(env, "AWS_PROFILE").value_or("default");
    return p;
}

namespace {
// The config file names profiles "[profile x]", except the default one.
const std::map<std::string, std::string, std::less<>>* config_section(const IniFile* config, std::string_view profile) {
    if (!config) return nullptr;
    std::string name = "profile " + std::string(profile);
    if (auto it = config->sections.find(name); it != config->sections.end()) return &it->second;
    if (profile == "default")
        if (auto it = config->sections.find("default"); it != config->sections.end()) return &it->second;
    return nullptr;
}

const std::string* lookup(const std::map<std::string, std::string, std::less<>>* section, std::string_view key) {
    if (!section) return nullptr;
    auto it = section->find(key);
    return (it == section->end() || it->second.empty()) ? nullptr : &it->second;
}

CredResult<std::optional<AwsCredentials>> static_keys(const std::map<std::string, std::string, std::less<>>* section,
                                                      std::string_view profile, std::string_view file) {
    auto* id = lookup(section, "aws_access_key_id");
    auto* secret = lookup(section, "aws_secret_access_key");
    if (!id && !secret) return std::optional<AwsCredentials>{};
    if (!id || !secret)
        return fail(credentials_errc::incomplete, "profile " + std::string(profile) + " in the " + std::string(file) +
                                                      " file has only one of aws_access_key_id and aws_secret_access_key");
    AwsCredentials c;
    c.access_key_id = *id;
    c.secret_access_key = *secret;
    if (auto* t = lookup(section, "aws_session_token")) c.session_token = *t;
    else if (auto* t2 = lookup(section, "aws_security_token")) c.session_token = *t2;
    c.source = "profile:" + std::string(profile);
    return std::optional<AwsCredentials>{std::move(c)};
}
}  // namespace

std::optional<std::string> resolve_region(const Env& env, const IniFile* config, std::string_view profile) {
    if (auto r = non_empty(env, "AWS_REGION")) return r;
    if (auto r = non_empty(env, "AWS_DEFAULT_REGION")) return r;
    if (auto* v = lookup(config_section(config, profile), "region")) return *v;
    return std::nullopt;
}

CredResult<ProfileCredentials> profile_credentials(const IniFile* credentials_file, const IniFile* config_file,
                                                   std::string_view profile) {
    const std::map<std::string, std::string, std::less<>>* cred_section = nullptr;
    if (credentials_file)
        if (auto it = credentials_file->sections.find(profile); it != credentials_file->sections.end())
            cred_section = &it->second;
    auto* conf_section = config_section(config_file, profile);
    if (!cred_section && !conf_section)
        return fail(credentials_errc::not_found, "profile " + std::string(profile) + " not found");

    // Precedence as in botocore: static keys in the credentials file, then
    // credential_process, then static keys in the config file.
    auto from_creds = static_keys(cred_section, profile, "credentials");
    if (!from_creds) return std::unexpected(from_creds.error());
    if (*from_creds) return ProfileCredentials{std::move(*from_creds), std::nullopt};

    const std::string* process = lookup(cred_section, "credential_process");
    if (!process) process = lookup(conf_section, "credential_process");
    if (process) return ProfileCredentials{std::nullopt, *process};

    auto from_conf = static_keys(conf_section, profile, "config");
    if (!from_conf) return std::unexpected(from_conf.error());
    if (*from_conf) return ProfileCredentials{std::move(*from_conf), std::nullopt};

    for (auto key : {"role_arn", "sso_session", "sso_start_url", "web_identity_token_file"}) {
        if (lookup(conf_section, key) || lookup(cred_section, key))
            return fail(credentials_errc::unsupported,
                        "profile " + std::string(profile) + " uses " + key + ", which is not supported");
    }
    return fail(credentials_errc::not_found, "profile " + std::string(profile) + " has no credentials");
}

CredResult<AwsCredentials> parse_credential_process_output(std::string_view json) {
    boost::system::error_code ec;
    auto v = boost::json::parse(json, ec);
    if (ec || !v.is_object()) return fail(credentials_errc::malformed, "credential_process: output is not a JSON object");
    auto* version = v.get_object().if_contains("Version");
    if (!version) return fail(credentials_errc::malformed, "credential_process: Version missing");
    if (!version->is_int64() || version->get_int64() != 1)
        return fail(credentials_errc::unsupported_version, "credential_process: Version must be 1");
    return credentials_from_json(json, "credential_process", "SessionToken", "credential_process");
}

CredResult<AwsCredentials> run_credential_process(const std::string& command, std::chrono::milliseconds timeout) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        return fail(credentials_errc::process_failed, "credential_process: pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    // Its own process group, so a timeout kills what the shell started too.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char* const*>(argv), environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        return fail(credentials_errc::process_failed, "credential_process: could not start /bin/sh");
    }
    constexpr std::size_t limit = 64 * 1024;
    std::string out;
    bool too_large = false, timed_out = false;
    char buf[4096];
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd pfd{fds[0], POLLIN, 0};
        const int ready = left.count() > 0 ? ::poll(&pfd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1 << 30))) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) {
            timed_out = true;
            break;
        }
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (out.size() + static_cast<std::size_t>(n) > limit) {
            too_large = true;
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);  // a process still writing gets SIGPIPE
    int status = 0;
    // A command that closed its stdout may still be running: it too gets
    // until the deadline (usually it has exited by the first check).
    for (auto pause = std::chrono::milliseconds(1); !timed_out;) {
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) break;
        if (r == 0) {
            if (std::chrono::steady_clock::now() >= deadline) timed_out = true;
            else std::this_thread::sleep_for(pause);
            pause = std::min(pause * 2, std::chrono::milliseconds(50));
        }
    }
    if (timed_out) {
        ::kill(-pid, SIGKILL);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (timed_out)
        return fail(credentials_errc::process_failed,
                    "credential_process: no answer within " + std::to_string(timeout.count()) + " ms; killed");
    if (too_large) return fail(credentials_errc::process_failed, "credential_process: output larger than 64 KiB");
    if (!WIFEXITED(status))
        return fail(credentials_errc::process_failed, "credential_process: killed by signal " + std::to_string(WTERMSIG(status)));
    if (WEXITSTATUS(status) != 0)
        return fail(credentials_errc::process_failed, "credential_process: exited with status " + std::to_string(WEXITSTATUS(status)));
    if (trim(out).empty()) return fail(credentials_errc::process_failed, "credential_process: printed nothing");
    return parse_credential_process_output(out);
}

std::optional<std::string> read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    return std::move(ss).str();
}

CredResult<http::Request> container_credentials_request(const Env& env, const FileReader& read_file) {
    http::Request req;
    req.method = "GET";
    if (auto rel = non_empty(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
        if (rel->front() != '/' || has_ctl(*rel))
            return fail(credentials_errc::invalid_uri, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
        req.url = "http://" + std::string(container_host) + *rel;
    } else if (auto full = non_empty(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
        auto u = boost::urls::parse_uri(*full);
        // Boost.URL 1.81 reads "http://127.0.0.1.evil.com/" as host 127.0.0.1
        // and path ".evil.com/": insist on a path that starts with '/'.
        if (!u || has_ctl(*full) || !u->has_authority() ||
            (!u->encoded_path().empty() && !u->encoded_path().starts_with('/')))
            return fail(credentials_errc::invalid_uri, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URI");
        std::string scheme(u->scheme());
        if (scheme == "http") {
            if (!is_loopback_or_container_host(u->encoded_host_address()))
                return fail(credentials_errc::invalid_uri,
                            "AWS_CONTAINER_CREDENTIALS_FULL_URI over http must name a loopback or the ECS/EKS host");
        } else if (scheme != "https") {
            return fail(credentials_errc::invalid_uri, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be http or https");
        }
        req.url = *full;
    } else {
        return fail(credentials_errc::not_found, "no container credentials URI set");
    }

    std::optional<std::string> token;
    if (auto file = non_empty(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
        token = read_file(*file);
        if (!token) return fail(credentials_errc::not_found, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE cannot be read");
    } else {
        token = non_empty(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    }
    if (token) {
        std::string t(trim(*token));
        // A newline would let the token inject headers.
        if (has_ctl(t)) return fail(credentials_errc::malformed, "container authorization token holds control characters");
        if (!t.empty()) req.headers.emplace_back("Authorization", std::move(t));
    }
    req.headers.emplace_back("Accept", "application/json");
    return req;
}

CredResult<AwsCredentials> parse_container_credentials(int status, std::string_view body) {
    if (status != 200)
        return fail(credentials_errc::fetch_failed, "container credentials endpoint answered HTTP " + std::to_string(status));
    return credentials_from_json(body, "container credentials", "Token", "container");
}

std::optional<std::string> imds_endpoint(const Env& env) {
    if (auto d = non_empty(env, "AWS_EC2_METADATA_DISABLED")) {
        std::string v = *d;
        for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (v == "true") return std::nullopt;
    }
    return non_empty(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("http://169.254.169.254");
}

http::Request imds_token_request(std::string_view endpoint, std::chrono::seconds ttl) {
    http::Request r;
    r.method = "PUT";
    r.url = join_url(endpoint, "/latest/api/token");
    r.headers.emplace_back("X-aws-ec2-metadata-token-ttl-seconds", std::to_string(ttl.count()));
    r.idempotent = true;
    return r;
}

CredResult<std::string> parse_imds_token(int status, std::string_view body) {
    if (status != 200) return fail(credentials_errc::fetch_failed, "IMDS token request answered HTTP " + std::to_string(status));
    auto t = trim(body);
    if (t.empty() || has_ctl(t)) return fail(credentials_errc::malformed, "IMDS token reply is empty or invalid");
    return std::string(t);
}

http::Request imds_role_request(std::string_view endpoint, std::string_view token) {
    http::Request r;
    r.method = "GET";
    r.url = join_url(endpoint, "/latest/meta-data/iam/security-credentials/");
    r.headers.emplace_back("X-aws-ec2-metadata-token", std::string(token));
    return r;
}

CredResult<std::string> parse_imds_role(int status, std::string_view body) {
    if (status == 404) return fail(credentials_errc::not_found, "the instance has no IAM role");
    if (status != 200) return fail(credentials_errc::fetch_failed, "IMDS role listing answered HTTP " + std::to_string(status));
    auto nl = body.find('\n');
    auto role = trim(body.substr(0, nl));
    if (role.empty()) return fail(credentials_errc::not_found, "the instance has no IAM role");
    if (has_ctl(role)) return fail(credentials_errc::malformed, "IMDS role name is invalid");
    return std::string(role);
}

http::Request imds_credentials_request(std::string_view endpoint, std::string_view token, std::string_view role) {
    http::Request r;
    r.method = "GET";
    r.url = join_url(endpoint, "/latest/meta-data/iam/security-credentials/") + sigv4::uri_encode(role);
    r.headers.emplace_back("X-aws-ec2-metadata-token", std::string(token));
    return r;
}

CredResult<AwsCredentials> parse_imds_credentials(int status, std::string_view body) {
    if (status != 200)
        return fail(credentials_errc::fetch_failed, "IMDS credentials request answered HTTP " + std::to_string(status));
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (!ec && v.is_object()) {
        auto code = string_member(v.get_object(), "Code");
        if (!code.empty() && code != "Success") {
            if (code.size() > 64 || has_ctl(code)) code = "<invalid>";
            return fail(credentials_errc::fetch_failed, "IMDS credentials Code is " + code);
        }
    }
    return credentials_from_json(body, "IMDS credentials", "Token", "imds");
}

}  // namespace blueprint::faas::aws
