#include "faas/aws/sigv4.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace blueprint::faas::aws::sigv4 {

namespace {

class Sigv4Category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "blueprint.aws.sigv4"; }
    std::string message(int ev) const override {
        switch (static_cast<sigv4_errc>(ev)) {
        case sigv4_errc::invalid_target: return "request target must start with '/'";
        case sigv4_errc::invalid_header_name: return "invalid header name";
        case sigv4_errc::missing_credentials: return "access key id or secret access key is empty";
        case sigv4_errc::invalid_scope: return "region or service is empty or contains '/'";
        case sigv4_errc::invalid_expiry: return "presign expiry must be between 1 second and 7 days";
        }
        return "unknown sigv4 error";
    }
};

constexpr std::string_view algorithm = "AWS4-HMAC-SHA256";
constexpr char hex_lower[] = "0123456789abcdef";
constexpr char hex_upper[] = "0123456789ABCDEF";

// OpenSSL 3 looks an algorithm up by name on every EVP_sha256()/HMAC()
// call unless it is fetched once; fetching once and reusing a per-thread
// context keeps a whole signature in the low microseconds.
const EVP_MD* sha256_md() {
    static const EVP_MD* md = [] {
        EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
        if (!m) throw std::runtime_error("OpenSSL: SHA256 unavailable");
        return m;
    }();
    return md;
}

struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

EVP_MD_CTX* thread_ctx() {
    thread_local std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx{EVP_MD_CTX_new()};
    if (!ctx) throw std::bad_alloc();
    return ctx.get();
}

using Digest = std::array<std::uint8_t, 32>;

// Hashes the concatenation of `parts`.
template <std::size_t N> Digest sha256_parts(const std::array<std::string_view, N>& parts) {
    EVP_MD_CTX* ctx = thread_ctx();
    Digest out{};
    unsigned len = 0;
    if (EVP_DigestInit_ex(ctx, sha256_md(), nullptr) != 1) throw std::runtime_error("OpenSSL: digest init failed");
    for (auto p : parts)
        if (!p.empty()) EVP_DigestUpdate(ctx, p.data(), p.size());
    EVP_DigestFinal_ex(ctx, out.data(), &len);
    return out;
}

std::string_view as_sv(std::span<const std::uint8_t> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

void append_hex(std::string& out, std::span<const std::uint8_t> bytes) {
    for (auto b : bytes) {
        out.push_back(hex_lower[b >> 4]);
        out.push_back(hex_lower[b & 15]);
    }
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    append_hex(out, bytes);
    return out;
}

bool is_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

void append_encoded(std::string& out, std::string_view in, bool keep_slash) {
    for (unsigned char c : in) {
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex_upper[c >> 4]);
            out.push_back(hex_upper[c & 15]);
        }
    }
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_tchar(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return true;
    if (c >= 'a' && c <= 'z') return true;
    if (c >= '0' && c <= '9') return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
    std::string out(s.size(), '\0');
    std::transform(s.begin(), s.end(), out.begin(), ascii_lower);
    return out;
}

// Headers the signer owns or that proxies rewrite: never taken from the caller.
bool is_skipped_header(std::string_view lname) {
    return lname == "authorization" || lname == "x-amz-date" || lname == "x-amz-security-token" ||
           lname == "user-agent" || lname == "x-amzn-trace-id" || lname == "expect" || lname == "connection" ||
           lname == "transfer-encoding";
}

void two_digits(std::string& out, unsigned v) {
    out.push_back(static_cast<char>('0' + v / 10 % 10));
    out.push_back(static_cast<char>('0' + v % 10));
}

struct Canonical {
    std::string request;
    std::string signed_headers;
    std::string date;   // yyyymmddThhmmssZ
    std::string scope;  // yyyymmdd/region/service/aws4_request
    std::string payload_hash;
};

std::expected<void, error_code> validate(const Request& request, const AwsCredentials& credentials,
                                         const Context& context) {
    if (request.target.empty() || request.target.front() != '/') return std::unexpected(make_error_code(sigv4_errc::invalid_target));
    if (credentials.access_key_id.empty() || credentials.secret_access_key.empty())
        return std::unexpected(make_error_code(sigv4_errc::missing_credentials));
    auto bad_scope = [](std::string_view s) { return s.empty() || s.find('/') != std::string_view::npos; };
    if (bad_scope(context.region) || bad_scope(context.service))
        return std::unexpected(make_error_code(sigv4_errc::invalid_scope));
    for (const auto& [name, value] : request.headers) {
        if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); }))
            return std::unexpected(make_error_code(sigv4_errc::invalid_header_name));
    }
    return {};
}

// Builds the canonical request. `extra_headers` are signed alongside the
// caller's (already lowercase); `extra_query` is appended to the query
// before canonicalisation (presigning).
Canonical canonicalize(const Request& request, const Context& context, const Options& options,
                       std::span<const Header> extra_headers, std::string_view extra_query,
                       std::string_view payload_hash, std::string date) {
    Canonical c;
    c.date = std::move(date);
    c.payload_hash = payload_hash;
    c.scope.reserve(8 + context.region.size() + context.service.size() + 16);
    c.scope.append(c.date, 0, 8).append("/").append(context.region).append("/").append(context.service).append("/aws4_request");

    std::string_view target = request.target;
    std::string_view path = target, query;
    if (auto q = target.find('?'); q != std::string_view::npos) {
        path = target.substr(0, q);
        query = target.substr(q + 1);
    }
    if (auto h = query.find('#'); h != std::string_view::npos) query = query.substr(0, h);

    // Headers: lowercase names, canonical values, stably sorted by name so
    // repeated headers keep their order when joined with ','.
    std::vector<Header> hs;
    hs.reserve(request.headers.size() + extra_headers.size());
    for (const auto& [name, value] : request.headers) {
        std::string lname = lower(name);
        if (is_skipped_header(lname)) continue;
        if (options.sign_body && lname == "x-amz-content-sha256") continue;
        hs.emplace_back(std::move(lname), canonical_header_value(value));
    }
    for (const auto& h : extra_headers) hs.push_back(h);
    std::stable_sort(hs.begin(), hs.end(), [](const Header& a, const Header& b) { return a.first < b.first; });

    std::string& r = c.request;
    r.reserve(256 + request.target.size() + hs.size() * 48);
    r.append(request.method).push_back('\n');
    r.append(canonical_uri(path, options)).push_back('\n');
    if (extra_query.empty()) {
        r.append(canonical_query(query));
    } else if (query.empty()) {
        r.append(canonical_query(extra_query));
    } else {
        std::string q(query);
        q.push_back('&');
        q.append(extra_query);
        r.append(canonical_query(q));
    }
    r.push_back('\n');
    for (std::size_t i = 0; i < hs.size(); ++i) {
        if (i > 0 && hs[i].first == hs[i - 1].first) {
            r.pop_back();  // the '\n' after the previous value
            r.push_back(',');
        } else {
            r.append(hs[i].first).push_back(':');
            if (!c.signed_headers.empty()) c.signed_headers.push_back(';');
            c.signed_headers.append(hs[i].first);
        }
        r.append(hs[i].second).push_back('\n');
    }
    r.push_back('\n');
    r.append(c.signed_headers).push_back('\n');
    r.append(payload_hash);
    return c;
}

std::string make_string_to_sign(const Canonical& c) {
    std::string sts;
    sts.reserve(algorithm.size() + c.date.size() + c.scope.size() + 67);
    sts.append(algorithm).push_back('\n');
    sts.append(c.date).push_back('\n');
    sts.append(c.scope).push_back('\n');
    append_hex(sts, sha256_parts(std::array{std::string_view(c.request)}));
    return sts;
}

struct SigningKeyCache {
    std::string secret, date, region, service;
    Digest key{};
    bool valid = false;

    ~SigningKeyCache() { clear(); }
    void clear() {
        OPENSSL_cleanse(secret.data(), secret.size());
        OPENSSL_cleanse(key.data(), key.size());
        valid = false;
    }
    const Digest& get(std::string_view s, std::string_view d, std::string_view r, std::string_view svc) {
        if (!valid || secret != s || date != d || region != r || service != svc) {
            clear();
            key = derive_signing_key(s, d, r, svc);
            secret.assign(s);
            date.assign(d);
            region.assign(r);
            service.assign(svc);
            valid = true;
        }
        return key;
    }
};

std::string compute_signature(const AwsCredentials& credentials, const Context& context, const Canonical& c,
                              std::string_view string_to_sign) {
    const Digest& key = cached_signing_key(credentials.secret_access_key, std::string_view(c.date).substr(0, 8),
                                           context.region, context.service);
    return to_hex(hmac_sha256(key, string_to_sign));
}

std::string payload_hash_of(const Request& request) {
    if (request.unsigned_payload) return std::string(unsigned_payload);
    return to_hex(sha256_parts(std::array{request.body}));
}

}  // namespace

const boost::system::error_category& sigv4_category() noexcept {
    static const Sigv4Category cat;
    return cat;
}

std::string amz_date(std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    auto secs = floor<seconds>(t);
    auto days = floor<std::chrono::days>(secs);
    year_month_day ymd{days};
    hh_mm_ss hms{secs - days};
    std::string out;
    out.reserve(16);
    int y = static_cast<int>(ymd.year());
    two_digits(out, static_cast<unsigned>(y / 100));
    two_digits(out, static_cast<unsigned>(y % 100));
    two_digits(out, static_cast<unsigned>(ymd.month()));
    two_digits(out, static_cast<unsigned>(ymd.day()));
    out.push_back('T');
    two_digits(out, static_cast<unsigned>(hms.hours().count()));
    two_digits(out, static_cast<unsigned>(hms.minutes().count()));
    two_digits(out, static_cast<unsigned>(hms.seconds().count()));
    out.push_back('Z');
    return out;
}

std::expected<std::chrono::system_clock::time_point, error_code> parse_iso8601(std::string_view s) {
    using namespace std::chrono;
    auto fail = [] { return std::unexpected(std::make_error_code(std::errc::invalid_argument)); };
    auto num = [&](std::size_t pos, std::size_t len, int& out) {
        if (pos + len > s.size()) return false;
        out = 0;
        for (std::size_t i = pos; i < pos + len; ++i) {
            if (s[i] < '0' || s[i] > '9') return false;
            out = out * 10 + (s[i] - '0');
        }
        return true;
    };
    int Y, M, D, h, m, sec;
    if (!num(0, 4, Y) || s.size() < 19 || s[4] != '-' || !num(5, 2, M) || s[7] != '-' || !num(8, 2, D) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !num(11, 2, h) || s[13] != ':' || !num(14, 2, m) ||
        s[16] != ':' || !num(17, 2, sec))
        return fail();
    year_month_day ymd{year{Y}, month{static_cast<unsigned>(M)}, day{static_cast<unsigned>(D)}};
    if (!ymd.ok() || h > 23 || m > 59 || sec > 60) return fail();
    std::size_t i = 19;
    nanoseconds frac{0};
    if (i < s.size() && s[i] == '.') {
        ++i;
        std::size_t start = i;
        long long scale = 100'000'000, v = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (scale > 0) v += (s[i] - '0') * scale;
            scale /= 10;
            ++i;
        }
        if (i == start) return fail();
        frac = nanoseconds{v};
    }
    minutes offset{0};
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
        ++i;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (!num(i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' || !num(i + 4, 2, om) || oh > 23 || om > 59)
            return fail();
        offset = hours{oh} + minutes{om};
        if (s[i] == '-') offset = -offset;
        i += 6;
    } else {
        return fail();
    }
    if (i != s.size()) return fail();
    auto tp = sys_days{ymd} + hours{h} + minutes{m} + seconds{sec} - offset;
    return time_point_cast<system_clock::duration>(tp + frac);
}

std::string uri_encode(std::string_view in, bool keep_slash) {
    std::string out;
    out.reserve(in.size() + in.size() / 2);
    append_encoded(out, in, keep_slash);
    return out;
}

std::string uri_decode(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%' && i + 2 < in.size()) {
            int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(in[i]);
    }
    return out;
}

std::string normalize_path(std::string_view path) {
    std::vector<std::string_view> segments;
    std::size_t pos = 0;
    while (pos <= path.size()) {
        auto next = path.find('/', pos);
        if (next == std::string_view::npos) next = path.size();
        auto seg = path.substr(pos, next - pos);
        if (seg == "..") {
            if (!segments.empty()) segments.pop_back();
        } else if (!seg.empty() && seg != ".") {
            segments.push_back(seg);
        }
        pos = next + 1;
    }
    std::string out = "/";
    for (std::size_t i = 0; i < segments.size(); ++i) {
        if (i) out.push_back('/');
        out.append(segments[i]);
    }
    // A trailing slash is part of the resource name ("/example/"), but not
    // when it only closed a "." or ".." segment.
    bool trailing = path.size() > 1 && path.back() == '/';
    if (trailing && !segments.empty()) out.push_back('/');
    return out;
}

std::string canonical_uri(std::string_view path, const Options& options) {
    if (path.empty()) return "/";
    std::string normalized;
    if (options.normalize_path) {
        normalized = normalize_path(path);
        path = normalized;
    }
    if (!options.double_encode_path) return std::string(path);
    return uri_encode(path, /*keep_slash=*/true);
}

std::string canonical_query(std::string_view query) {
    if (query.empty()) return {};
    std::vector<std::pair<std::string, std::string>> params;
    std::size_t pos = 0;
    while (pos <= query.size()) {
        auto amp = query.find('&', pos);
        if (amp == std::string_view::npos) amp = query.size();
        auto part = query.substr(pos, amp - pos);
        if (!part.empty()) {
            auto eq = part.find('=');
            std::string_view name = part.substr(0, eq), value;
            if (eq != std::string_view::npos) value = part.substr(eq + 1);
            // Decode first so that already-encoded and raw forms sign alike.
            params.emplace_back(uri_encode(uri_decode(name)), uri_encode(uri_decode(value)));
        }
        pos = amp + 1;
    }
    std::sort(params.begin(), params.end());
    std::string out;
    for (const auto& [n, v] : params) {
        if (!out.empty()) out.push_back('&');
        out.append(n).push_back('=');
        out.append(v);
    }
    return out;
}

std::string canonical_header_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    bool pending_space = false;
    for (char c : value) {
        if (is_space(c)) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) out.push_back(' ');
        pending_space = false;
        out.push_back(c);
    }
    return out;
}

std::string sha256_hex(std::string_view data) { return to_hex(sha256_parts(std::array{data})); }

std::array<std::uint8_t, 32> hmac_sha256(std::span<const std::uint8_t> key, std::string_view data) {
    // RFC 2104 over the prefetched digest: H((K^opad) || H((K^ipad) || m)).
    constexpr std::size_t block = 64;
    std::array<std::uint8_t, block> k{};
    if (key.size() > block) {
        auto d = sha256_parts(std::array{as_sv(key)});
        std::memcpy(k.data(), d.data(), d.size());
    } else if (!key.empty()) {
        std::memcpy(k.data(), key.data(), key.size());
    }
    std::array<std::uint8_t, block> pad;
    for (std::size_t i = 0; i < block; ++i) pad[i] = k[i] ^ 0x36;
    auto inner = sha256_parts(std::array{as_sv(pad), data});
    for (std::size_t i = 0; i < block; ++i) pad[i] = k[i] ^ 0x5c;
    auto outer = sha256_parts(std::array{as_sv(pad), as_sv(inner)});
    OPENSSL_cleanse(k.data(), k.size());
    OPENSSL_cleanse(pad.data(), pad.size());
    return outer;
}

const std::array<std::uint8_t, 32>& cached_signing_key(std::string_view secret, std::string_view yyyymmdd,
                                                       std::string_view region, std::string_view service) {
    thread_local SigningKeyCache cache;
    return cache.get(secret, yyyymmdd, region, service);
}

std::array<std::uint8_t, 32> derive_signing_key(std::string_view secret, std::string_view yyyymmdd,
                                                std::string_view region, std::string_view service) {
    std::string k0;
    k0.reserve(4 + secret.size());
    k0.append("AWS4").append(secret);
    auto k_date = hmac_sha256({reinterpret_cast<const std::uint8_t*>(k0.data()), k0.size()}, yyyymmdd);
    OPENSSL_cleanse(k0.data(), k0.size());
    auto k_region = hmac_sha256(k_date, region);
    auto k_service = hmac_sha256(k_region, service);
    auto k_signing = hmac_sha256(k_service, "aws4_request");
    OPENSSL_cleanse(k_date.data(), k_date.size());
    OPENSSL_cleanse(k_region.data(), k_region.size());
    OPENSSL_cleanse(k_service.data(), k_service.size());
    return k_signing;
}

std::expected<Signature, error_code> sign(const Request& request, const AwsCredentials& credentials,
                                          const Context& context, const Options& options) {
    if (auto v = validate(request, credentials, context); !v) return std::unexpected(v.error());
    std::string date = amz_date(context.time);
    std::string payload = payload_hash_of(request);
    bool token = !credentials.session_token.empty();

    std::vector<Header> extra;
    extra.reserve(3);
    extra.emplace_back("x-amz-date", date);
    if (token && !options.omit_session_token) extra.emplace_back("x-amz-security-token", credentials.session_token);
    if (options.sign_body) extra.emplace_back("x-amz-content-sha256", payload);

    Canonical c = canonicalize(request, context, options, extra, {}, payload, date);
    Signature out;
    out.string_to_sign = make_string_to_sign(c);
    out.signature = compute_signature(credentials, context, c, out.string_to_sign);
    out.authorization.reserve(160 + c.signed_headers.size());
    out.authorization.append(algorithm)
        .append(" Credential=")
        .append(credentials.access_key_id)
        .append("/")
        .append(c.scope)
        .append(", SignedHeaders=")
        .append(c.signed_headers)
        .append(", Signature=")
        .append(out.signature);
    if (token) out.headers_to_add.emplace_back("X-Amz-Security-Token", credentials.session_token);
    out.headers_to_add.emplace_back("X-Amz-Date", std::move(date));
    if (options.sign_body) out.headers_to_add.emplace_back("x-amz-content-sha256", payload);
    out.headers_to_add.emplace_back("Authorization", out.authorization);
    out.canonical_request = std::move(c.request);
    out.signed_headers = std::move(c.signed_headers);
    return out;
}

std::expected<Presigned, error_code> presign(const Request& request, const AwsCredentials& credentials,
                                             const Context& context, std::chrono::seconds expires,
                                             const Options& options) {
    if (auto v = validate(request, credentials, context); !v) return std::unexpected(v.error());
    if (expires < std::chrono::seconds(1) || expires > std::chrono::hours(24 * 7))
        return std::unexpected(make_error_code(sigv4_errc::invalid_expiry));
    std::string date = amz_date(context.time);
    std::string payload = payload_hash_of(request);

    // The signed-header list goes into the query, so compute it first
    // from the caller's headers alone (presigning adds no headers).
    std::vector<std::string> names;
    for (const auto& h : request.headers) {
        std::string l = lower(h.first);
        if (!is_skipped_header(l)) names.push_back(std::move(l));
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    std::string signed_headers;
    for (const auto& n : names) {
        if (!signed_headers.empty()) signed_headers.push_back(';');
        signed_headers.append(n);
    }
    std::string scope = date.substr(0, 8);
    scope.append("/").append(context.region).append("/").append(context.service).append("/aws4_request");

    // Parameter order on the wire follows aws-c-auth; the canonical form sorts anyway.
    std::string params;
    params.append("X-Amz-Algorithm=").append(algorithm);
    params.append("&X-Amz-Credential=").append(uri_encode(credentials.access_key_id + "/" + scope));
    params.append("&X-Amz-Date=").append(date);
    params.append("&X-Amz-SignedHeaders=").append(uri_encode(signed_headers));
    params.append("&X-Amz-Expires=").append(std::to_string(expires.count()));
    std::string signed_params = params;
    if (!credentials.session_token.empty()) {
        std::string t = "&X-Amz-Security-Token=" + uri_encode(credentials.session_token);
        if (!options.omit_session_token) signed_params.append(t);
        params.append(t);
        OPENSSL_cleanse(t.data(), t.size());
    }

    Options opts = options;
    opts.sign_body = false;
    Canonical c = canonicalize(request, context, opts, {}, signed_params, payload, date);
    Presigned out;
    out.string_to_sign = make_string_to_sign(c);
    out.signature = compute_signature(credentials, context, c, out.string_to_sign);
    std::string_view target = request.target;
    if (auto h = target.find('#'); h != std::string_view::npos) target = target.substr(0, h);
    out.target.reserve(target.size() + params.size() + 96);
    out.target.append(target);
    out.target.push_back(target.find('?') == std::string_view::npos ? '?' : (target.back() == '?' ? '\0' : '&'));
    if (out.target.back() == '\0') out.target.pop_back();
    out.target.append(params).append("&X-Amz-Signature=").append(out.signature);
    out.canonical_request = std::move(c.request);
    return out;
}

}  // namespace blueprint::faas::aws::sigv4
