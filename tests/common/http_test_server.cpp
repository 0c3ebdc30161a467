// Scriptable HTTP test server and throwaway PKI (OpenSSL C API).
#include "common/http_test_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace blueprint::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

[[noreturn]] void openssl_fail(const char* what) { throw std::runtime_error(std::string("test PKI: ") + what + " failed"); }

template <class T, void (*Free)(T*)> struct Owned {
    T* p = nullptr;
    explicit Owned(T* v) : p(v) {
        if (!p) openssl_fail("allocation");
    }
    ~Owned() { Free(p); }
    Owned(const Owned&) = delete;
    Owned& operator=(const Owned&) = delete;
    T* get() const { return p; }
};
using Key = Owned<EVP_PKEY, EVP_PKEY_free>;
using Cert = Owned<X509, X509_free>;

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (!ext) openssl_fail("X509V3_EXT_conf_nid");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

void fill_cert(X509* cert, EVP_PKEY* key, long serial, const std::string& cn) {
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 7 * 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
}

std::string to_pem(X509* cert) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

std::string key_pem(EVP_PKEY* key) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

}  // namespace

TestPki::TestPki(TestPki&& o) noexcept
    : ca_cert_pem(std::move(o.ca_cert_pem)), server_cert_pem(std::move(o.server_cert_pem)),
      server_key_pem(std::move(o.server_key_pem)), dir(std::move(o.dir)), ca_file(std::move(o.ca_file)) {
    o.dir.clear();
}

TestPki& TestPki::operator=(TestPki&& o) noexcept {
    std::swap(ca_cert_pem, o.ca_cert_pem);
    std::swap(server_cert_pem, o.server_cert_pem);
    std::swap(server_key_pem, o.server_key_pem);
    std::swap(dir, o.dir);
    std::swap(ca_file, o.ca_file);
    return *this;
}

TestPki::~TestPki() {
    if (!dir.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
}

std::shared_ptr<net::ssl::context> TestPki::server_context() const {
    auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
    ctx->use_certificate_chain(net::buffer(server_cert_pem));
    ctx->use_private_key(net::buffer(server_key_pem), net::ssl::context::pem);
    return ctx;
}

TestPki make_test_pki(const std::vector<std::string>& names, std::string_view tag) {
    static long serial = 1;
    Key ca_key(EVP_EC_gen("P-256"));
    Cert ca(X509_new());
    fill_cert(ca.get(), ca_key.get(), serial++, "blueprint test CA " + std::string(tag));
    X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get()));
    add_ext(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
    add_ext(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
    if (!X509_sign(ca.get(), ca_key.get(), EVP_sha256())) openssl_fail("signing the CA");

    Key leaf_key(EVP_EC_gen("P-256"));
    Cert leaf(X509_new());
    fill_cert(leaf.get(), leaf_key.get(), serial++, names.empty() ? "localhost" : names.front());
    X509_set_issuer_name(leaf.get(), X509_get_subject_name(ca.get()));
    std::string san;
    for (const auto& n : names) {
        boost::system::error_code ec;
        net::ip::make_address(n, ec);
        if (!san.empty()) san += ',';
        san += (ec ? "DNS:" : "IP:") + n;
    }
    add_ext(leaf.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_ext(leaf.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
    add_ext(leaf.get(), ca.get(), NID_ext_key_usage, "serverAuth");
    if (!san.empty()) add_ext(leaf.get(), ca.get(), NID_subject_alt_name, san.c_str());
    add_ext(leaf.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
    if (!X509_sign(leaf.get(), ca_key.get(), EVP_sha256())) openssl_fail("signing the leaf");

    TestPki pki;
    pki.ca_cert_pem = to_pem(ca.get());
    pki.server_cert_pem = to_pem(leaf.get());
    pki.server_key_pem = key_pem(leaf_key.get());
    std::string templ = (std::filesystem::temp_directory_path() / "bp-pki-XXXXXX").string();
    if (!mkdtemp(templ.data())) openssl_fail("mkdtemp");
    pki.dir = templ;
    pki.ca_file = pki.dir / "ca.pem";
    std::ofstream(pki.ca_file) << pki.ca_cert_pem;
    return pki;
}

// ---------------------------------------------------------------------------

struct HttpTestServer::State {
    explicit State(net::io_context& ioc) : ioc(ioc), acceptor(ioc) {}
    net::io_context& ioc;
    tcp::acceptor acceptor;
    Handler handler;
    std::shared_ptr<net::ssl::context> tls;
    std::vector<std::weak_ptr<Session>> sessions;
    std::size_t connections = 0;
    std::size_t requests = 0;
    bool stopped = false;
};

namespace {

template <class F> auto visit_stream(std::optional<beast::tcp_stream>& plain,
                                     std::optional<beast::ssl_stream<beast::tcp_stream>>& tls, F&& f) {
    return tls ? f(*tls) : f(*plain);
}

}  // namespace

net::awaitable<std::optional<HttpTestServer::Request>> HttpTestServer::Session::read_request() {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    auto [ec, n] = co_await visit_stream(plain_, tls_, [&](auto& s) { return bhttp::async_read(s, buffer_, parser, use_tuple); });
    if (ec) co_return std::nullopt;
    ++requests_;
    co_return parser.release();
}

net::awaitable<bool> HttpTestServer::Session::write(Response response, bool head_only) {
    if (!response.chunked()) response.prepare_payload();
    if (head_only) {
        bhttp::response_serializer<bhttp::string_body> sr(response);
        auto [ec, n] = co_await visit_stream(plain_, tls_, [&](auto& s) { return bhttp::async_write_header(s, sr, use_tuple); });
        co_return !ec;
    }
    auto [ec, n] = co_await visit_stream(plain_, tls_, [&](auto& s) { return bhttp::async_write(s, response, use_tuple); });
    co_return !ec;
}

net::awaitable<bool> HttpTestServer::Session::write_raw(std::string_view bytes) {
    auto [ec, n] = co_await visit_stream(plain_, tls_, [&](auto& s) {
        return net::async_write(s, net::buffer(bytes.data(), bytes.size()), use_tuple);
    });
    co_return !ec;
}

net::awaitable<void> HttpTestServer::Session::wait_closed() {
    char scratch[4096];
    for (;;) {
        auto [ec, n] = co_await visit_stream(plain_, tls_, [&](auto& s) { return s.async_read_some(net::buffer(scratch), use_tuple); });
        if (ec) co_return;
    }
}

void HttpTestServer::Session::close() {
    boost::system::error_code ec;
    if (tls_) beast::get_lowest_layer(*tls_).socket().close(ec);
    if (plain_) plain_->socket().close(ec);
}

namespace {

net::awaitable<void> run_session(std::shared_ptr<HttpTestServer::State> state, tcp::socket socket);

net::awaitable<void> accept_loop(std::shared_ptr<HttpTestServer::State> state) {
    for (;;) {
        auto [ec, socket] = co_await state->acceptor.async_accept(use_tuple);
        if (ec || state->stopped) co_return;
        ++state->connections;
        net::co_spawn(state->ioc, run_session(state, std::move(socket)), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    }
}

}  // namespace

struct HttpTestServer::Session::Access {
    static void init(Session& s, tcp::socket socket, net::ssl::context* tls) {
        if (tls)
            s.tls_.emplace(std::move(socket), *tls);
        else
            s.plain_.emplace(std::move(socket));
    }
    static net::awaitable<bool> handshake(Session& s) {
        if (!s.tls_) co_return true;
        auto [ec] = co_await s.tls_->async_handshake(net::ssl::stream_base::server, use_tuple);
        co_return !ec;
    }
};

namespace {
net::awaitable<void> run_session(std::shared_ptr<HttpTestServer::State> state, tcp::socket socket) {
    auto session = std::make_shared<HttpTestServer::Session>();
    HttpTestServer::Session::Access::init(*session, std::move(socket), state->tls.get());
    std::erase_if(state->sessions, [](const auto& w) { return w.expired(); });
    state->sessions.push_back(session);
    if (!co_await HttpTestServer::Session::Access::handshake(*session)) {
        session->close();
        co_return;
    }
    co_await state->handler(*session);
    state->requests += session->requests();
    session->close();
}
}  // namespace

HttpTestServer::HttpTestServer(net::io_context& ioc, Handler handler, std::shared_ptr<net::ssl::context> tls)
    : state_(std::make_shared<State>(ioc)) {
    state_->handler = std::move(handler);
    state_->tls = std::move(tls);
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    state_->acceptor.open(ep.protocol());
    state_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    state_->acceptor.bind(ep);
    state_->acceptor.listen(net::socket_base::max_listen_connections);
    net::co_spawn(ioc, accept_loop(state_), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
}

HttpTestServer::~HttpTestServer() { stop(); }

void HttpTestServer::stop() {
    if (state_->stopped) return;
    state_->stopped = true;
    boost::system::error_code ec;
    state_->acceptor.close(ec);
    for (auto& w : state_->sessions)
        if (auto s = w.lock()) s->close();
}

HttpTestServer::Handler HttpTestServer::respond(std::function<Response(const Request&)> fn) {
    return [fn = std::move(fn)](Session& s) -> net::awaitable<void> {
        for (;;) {
            auto req = co_await s.read_request();
            if (!req) co_return;
            Response res = fn(*req);
            const bool keep = req->keep_alive() && res.keep_alive();
            res.keep_alive(keep);
            if (!co_await s.write(std::move(res), req->method() == boost::beast::http::verb::head) || !keep) co_return;
        }
    };
}

HttpTestServer::Response HttpTestServer::make_response(unsigned status, std::string body) {
    Response res{static_cast<bhttp::status>(status), 11};
    res.body() = std::move(body);
    res.keep_alive(true);
    return res;
}

std::uint16_t HttpTestServer::port() const noexcept {
    boost::system::error_code ec;
    return state_->acceptor.local_endpoint(ec).port();
}

std::string HttpTestServer::url(std::string_view path) const {
    return std::string(state_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port()) + std::string(path);
}

std::size_t HttpTestServer::connections() const noexcept { return state_->connections; }

std::size_t HttpTestServer::requests() const noexcept {
    std::size_t n = state_->requests;
    for (auto& w : state_->sessions)
        if (auto s = w.lock()) n += s->requests();
    return n;
}

}  // namespace blueprint::test
