// A scriptable HTTP/1.1 test server on 127.0.0.1, port 0, plain or TLS,
// plus a throwaway PKI (CA + server certificate) made at test time.
//
// The test controls each connection through a Handler coroutine, so it can
// answer normally, never answer, close mid-response, send garbage or dribble
// a slow body. The server runs on the test's io_context; stop() closes the
// acceptor and every open connection, so the context runs out of work.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace blueprint::test {

/// A CA and a leaf certificate it signed, in PEM, plus the CA written to a
/// file (for ClientOptions::ca_file). The temp dir is removed on destruction.
struct TestPki {
    std::string ca_cert_pem;
    std::string server_cert_pem;
    std::string server_key_pem;
    std::filesystem::path dir;
    std::filesystem::path ca_file;

    TestPki() = default;
    TestPki(TestPki&&) noexcept;
    TestPki& operator=(TestPki&&) noexcept;
    ~TestPki();

    /// A TLS server context presenting the leaf certificate.
    std::shared_ptr<boost::asio::ssl::context> server_context() const;
};

/// Generates a fresh P-256 CA ("blueprint test CA <tag>") and a leaf for
/// `names`: DNS names, or IP addresses (entries that parse as one).
TestPki make_test_pki(const std::vector<std::string>& names, std::string_view tag = "");

class HttpTestServer {
public:
    using Request = boost::beast::http::request<boost::beast::http::string_body>;
    using Response = boost::beast::http::response<boost::beast::http::string_body>;

    /// One accepted connection (the TLS handshake already done, if TLS).
    class Session {
    public:
        /// The next request, or nullopt when the peer closed or it was invalid.
        boost::asio::awaitable<std::optional<Request>> read_request();
        /// Writes a response (Content-Length set from the body unless
        /// chunked); `head_only` sends just the header, as for HEAD.
        boost::asio::awaitable<bool> write(Response response, bool head_only = false);
        /// Writes raw bytes.
        boost::asio::awaitable<bool> write_raw(std::string_view bytes);
        /// Reads and discards until the peer closes or the server stops.
        boost::asio::awaitable<void> wait_closed();
        /// Closes the connection at once.
        void close();
        /// The plain socket stream (nullptr on TLS), for tunnelling proxies.
        boost::beast::tcp_stream* plain_stream() noexcept { return plain_ ? &*plain_ : nullptr; }
        /// Bytes read past the last request (for tunnelling proxies).
        boost::beast::flat_buffer& buffer() noexcept { return buffer_; }
        /// Requests read on this connection so far.
        std::size_t requests() const noexcept { return requests_; }

        struct Access;  // the server's private hooks (defined in the .cpp)

    private:
        friend struct Access;
        std::optional<boost::beast::tcp_stream> plain_;
        std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls_;
        boost::beast::flat_buffer buffer_;
        std::size_t requests_ = 0;
    };

    using Handler = std::function<boost::asio::awaitable<void>(Session&)>;

    /// Starts listening at once on 127.0.0.1:0. `tls` (if given) makes it HTTPS.
    HttpTestServer(boost::asio::io_context& ioc, Handler handler,
                   std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
    ~HttpTestServer();
    HttpTestServer(const HttpTestServer&) = delete;
    HttpTestServer& operator=(const HttpTestServer&) = delete;

    /// A keep-alive handler answering each request with `fn(request)`.
    static Handler respond(std::function<Response(const Request&)> fn);
    /// A response with `status` and `body`.
    static Response make_response(unsigned status, std::string body = {});

    std::uint16_t port() const noexcept;
    /// "http[s]://127.0.0.1:<port><path>".
    std::string url(std::string_view path = "/") const;
    /// Connections accepted so far.
    std::size_t connections() const noexcept;
    /// Requests read so far over all connections.
    std::size_t requests() const noexcept;
    /// Closes the listener and every open connection.
    void stop();

    struct State;  // opaque; public only so the .cpp's free coroutines can name it

private:
    std::shared_ptr<State> state_;
};

}  // namespace blueprint::test
