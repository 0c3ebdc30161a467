// The function runtime end to end: the real tests/test_function binary (its
// behaviour table is at the top of tests/fixtures/test_function.cpp) in HTTP
// mode on 127.0.0.1 port 0, spoken to by a small Beast client, and in
// stdin/stdout mode.
#include <blueprint/faas/wire.hpp>

#include "common/process.hpp"
#include "common/run_coro.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <gtest/gtest.h>

#include <cctype>
#include <csignal>
#include <map>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace wire = blueprint::faas::wire;
using tcp = asio::ip::tcp;
using blueprint::Bytes;
using blueprint::JobCall;
using blueprint::JobId;
using blueprint::to_bytes;
using blueprint::test::ChildProcess;
using blueprint::test::ProcessOptions;
using namespace std::chrono_literals;

using Response = http::response<http::string_body>;
using Request = http::request<http::string_body>;

const std::string function_path = blueprint::test::build_path("tests/test_function");

ProcessOptions clean_env(std::vector<std::pair<std::string, std::string>> env = {}) {
    ProcessOptions o;
    o.env = std::move(env);
    // Whatever the test runner's environment holds, pick the mode ourselves.
    o.unset_env = {"PORT", "AWS_LAMBDA_RUNTIME_API", "FUNCTIONS_CUSTOMHANDLER_PORT"};
    return o;
}

// A running test_function in HTTP mode.
struct FunctionServer {
    ChildProcess process;
    unsigned short port = 0;

    static FunctionServer start(std::vector<std::pair<std::string, std::string>> env = {},
                                std::vector<std::string> args = {"--port", "0"}) {
        FunctionServer s{ChildProcess::spawn(function_path, args, clean_env(std::move(env)))};
        auto line = s.process.wait_for_stderr("listening on ", 20s);
        if (!line) throw std::runtime_error("test_function did not report its port; stderr: " + s.process.stderr_seen());
        const std::string prefix = "listening on 127.0.0.1:";
        if (!line->starts_with(prefix)) throw std::runtime_error("unexpected first line: " + *line);
        s.port = static_cast<unsigned short>(std::stoul(line->substr(prefix.size())));
        return s;
    }
};

// One keep-alive connection.
class Client {
public:
    explicit Client(asio::io_context& ioc) : socket_(ioc) {}

    asio::awaitable<void> connect(unsigned short port) {
        co_await socket_.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), asio::use_awaitable);
    }

    asio::awaitable<Response> send(Request req) {
        req.set(http::field::host, "127.0.0.1");
        req.prepare_payload();
        co_await http::async_write(socket_, req, asio::use_awaitable);
        co_return co_await read();
    }

    asio::awaitable<Response> read() {
        http::response_parser<http::string_body> parser;
        parser.body_limit(boost::none);
        co_await http::async_read(socket_, buffer_, parser, asio::use_awaitable);
        co_return parser.release();
    }

    asio::awaitable<void> write_raw(std::string data) {
        co_await asio::async_write(socket_, asio::buffer(data), asio::use_awaitable);
    }

    /// True when the server closed the connection (EOF or reset) on a read.
    asio::awaitable<bool> closed_by_peer() {
        char byte;
        auto [ec, n] = co_await socket_.async_read_some(asio::buffer(&byte, 1), asio::as_tuple(asio::use_awaitable));
        co_return ec == asio::error::eof || ec == asio::error::connection_reset;
    }

    tcp::socket& socket() { return socket_; }

private:
    tcp::socket socket_;
    beast::flat_buffer buffer_;
};

Request json_request(std::string target, std::string body) {
    Request req{http::verb::post, target, 11};
    req.set(http::field::content_type, wire::json_content_type);
    req.body() = std::move(body);
    return req;
}

Request job_request(std::uint64_t job, const Bytes& args, std::string target = "/") {
    return json_request(std::move(target), wire::encode_request_json(JobCall(JobId(job), args)));
}

Request binary_request(std::string target, std::string body, std::string job_id = {}) {
    Request req{http::verb::post, target, 11};
    req.set(http::field::content_type, wire::binary_content_type);
    if (!job_id.empty()) req.set(wire::header_job_id, job_id);
    req.body() = std::move(body);
    return req;
}

wire::Reply decode(const Response& res) {
    auto reply = wire::decode_reply_json(res.body());
    if (!reply) throw std::runtime_error("undecodable reply: " + reply.error().to_string() + " body: " + res.body().substr(0, 200));
    return *reply;
}

std::string header(const Response& res, std::string_view name) { return std::string(res[name]); }

class FunctionServerTest : public blueprint::test::IoContextTest {
protected:
    void SetUp() override { server = FunctionServer::start(); }

    // One request on a fresh connection.
    Response call(Request req) {
        return run([&]() -> asio::awaitable<Response> {
            Client c(ioc);
            co_await c.connect(server.port);
            co_return co_await c.send(std::move(req));
        }());
    }

    void expect_alive() {
        Request health{http::verb::get, "/health", 11};
        EXPECT_EQ(call(std::move(health)).result_int(), 200u) << "the server died";
    }

    FunctionServer server;
};

// ---- happy paths ---------------------------------------------------------------

TEST_F(FunctionServerTest, JsonEcho) {
    auto res = call(job_request(0, to_bytes("hello")));
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(header(res, "Content-Type"), wire::json_content_type);
    auto reply = decode(res);
    EXPECT_TRUE(reply.success);
    EXPECT_EQ(reply.result, to_bytes("hello"));
    EXPECT_TRUE(reply.execution_ms.has_value());
}

TEST_F(FunctionServerTest, TheOriginalsRequestFormGetsTheOriginalsReplyForm) {
    auto res = call(json_request("/", R"({"job_id":6,"args":[0,0,0,0,0,0,0,12]})"));
    ASSERT_EQ(res.result_int(), 200u);
    auto reply = decode(res);
    EXPECT_EQ(reply.result, (Bytes{0, 0, 0, 0, 0, 0, 0, 144}));
}

TEST_F(FunctionServerTest, BinaryFraming) {
    auto res = call(binary_request("/", "", "5"));
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(header(res, "Content-Type"), wire::binary_content_type);
    EXPECT_EQ(header(res, wire::header_status), "ok");
    ASSERT_EQ(res.body().size(), 256u);
    for (int i = 0; i < 256; ++i) EXPECT_EQ(static_cast<unsigned char>(res.body()[i]), i);

    // The id in hex, and metadata in its header.
    blueprint::Metadata md;
    md.insert("a", blueprint::MetadataValue(std::string_view("1")));
    md.insert("b", blueprint::MetadataValue(std::string_view("two")));
    auto req = binary_request("/", "", "0x8");
    req.set(wire::header_metadata, wire::base64_encode(wire::encode_metadata_json(md)));
    auto meta = call(std::move(req));
    EXPECT_EQ(meta.body(), "a=1;b=two");
}

TEST_F(FunctionServerTest, BinaryErrorReply) {
    auto res = call(binary_request("/", "", "1"));
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(header(res, wire::header_status), "error");
    EXPECT_EQ(header(res, wire::header_error_type), "FixtureError");
    EXPECT_EQ(res.body(), "requested failure");
}

TEST_F(FunctionServerTest, JsonMetadataReachesTheHandler) {
    blueprint::Metadata md;
    md.insert("k", blueprint::MetadataValue(std::string_view("v"), true));
    auto res = call(json_request("/", wire::encode_request_json(JobCall(8, {}, md))));
    EXPECT_EQ(decode(res).result, to_bytes("k=v"));
}

TEST_F(FunctionServerTest, PathJobIdWinsOverTheBody) {
    // Body says job 1 (error); the path says 0 (echo): the path is used.
    auto res = call(job_request(1, to_bytes("x"), "/job/0"));
    auto reply = decode(res);
    EXPECT_TRUE(reply.success) << reply.error;
    EXPECT_EQ(reply.result, to_bytes("x"));
    // Binary: the path supplies the id, no header needed.
    auto bin = call(binary_request("/job/0x0", "raw"));
    EXPECT_EQ(bin.body(), "raw");
    // A bad path id is a 400.
    auto bad = call(job_request(0, {}, "/job/nope"));
    EXPECT_EQ(bad.result_int(), 400u);
}

TEST_F(FunctionServerTest, PathJobIdFillsAMissingBodyId) {
    // The path names the job: a body without job_id is complete there.
    auto res = call(json_request("/job/6", R"({"args":[0,0,0,0,0,0,0,3]})"));
    ASSERT_EQ(res.result_int(), 200u) << res.body();
    EXPECT_EQ(decode(res).result, (Bytes{0, 0, 0, 0, 0, 0, 0, 9}));
    auto hex = call(json_request("/job/0x0", R"({"args":[104,105],"job_id":null})"));
    ASSERT_EQ(hex.result_int(), 200u) << hex.body();
    EXPECT_EQ(decode(hex).result, to_bytes("hi"));
    // The platform route, when its {id} is a job id.
    auto platform = call(json_request("/api/functions/0/invoke", R"({"args":[112]})"));
    ASSERT_EQ(platform.result_int(), 200u) << platform.body();
    EXPECT_EQ(decode(platform).result, to_bytes("p"));
    EXPECT_NE(platform.body().find("\"job_id\":0"), std::string::npos) << platform.body();

    // Still 400: a body that is not JSON, a wrong-typed id, and the root
    // route, which has no id to fall back on.
    for (auto [target, body] : std::initializer_list<std::pair<const char*, const char*>>{
             {"/job/0", "not json"},
             {"/job/0", R"({"job_id":"zero","args":[]})"},
             {"/job/0", R"({"job_id":[0],"args":[]})"},
             {"/job/0", R"({"args":[1,2)"},
             {"/", R"({"args":[1]})"},
             {"/api/functions/blueprint-job-0/invoke", R"({"args":[1]})"},
         }) {
        auto bad = call(json_request(target, body));
        EXPECT_EQ(bad.result_int(), 400u) << target << " " << body;
        EXPECT_NE(bad.body().find(R"("code":"bad_request")"), std::string::npos) << bad.body();
    }
    expect_alive();
}

TEST_F(FunctionServerTest, PlatformInvokeRoute) {
    auto ok = call(job_request(0, to_bytes("p"), "/api/functions/blueprint-job-0/invoke"));
    EXPECT_EQ(ok.result_int(), 200u);
    auto reply = decode(ok);
    EXPECT_TRUE(reply.success);
    EXPECT_EQ(reply.result, to_bytes("p"));
    EXPECT_TRUE(reply.execution_ms.has_value());
    EXPECT_TRUE(reply.memory_used_mb.has_value());
    EXPECT_NE(ok.body().find("\"job_id\":0"), std::string::npos);

    auto failed = call(job_request(1, {}, "/api/functions/blueprint-job-1/invoke"));
    EXPECT_EQ(failed.result_int(), 500u);
    auto freply = decode(failed);
    EXPECT_FALSE(freply.success);
    EXPECT_EQ(freply.error, "requested failure");
}

TEST_F(FunctionServerTest, RequestIdReachesTheHandler) {
    auto req = job_request(7, {});
    req.set("X-Request-Id", "req-42");
    EXPECT_EQ(decode(call(std::move(req))).result, to_bytes("mode=http;request_id=req-42"));
    auto gcp = job_request(7, {});
    gcp.set("Function-Execution-Id", "exec-9");
    EXPECT_EQ(decode(call(std::move(gcp))).result, to_bytes("mode=http;request_id=exec-9"));
}

// ---- health and routing ------------------------------------------------------

TEST_F(FunctionServerTest, Health) {
    auto res = call(Request{http::verb::get, "/health", 11});
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), R"({"status":"healthy","formats":["json","binary"]})");
}

TEST_F(FunctionServerTest, UnknownPathsAre404Json) {
    for (const char* target : {"/robots.txt", "/favicon.ico", "/nope", "/job/1/extra"}) {
        auto res = call(Request{http::verb::get, target, 11});
        EXPECT_EQ(res.result_int(), 404u) << target;
        EXPECT_EQ(header(res, "Content-Type"), wire::json_content_type);
        EXPECT_NE(res.body().find(R"("code":"not_found")"), std::string::npos) << res.body();
    }
    EXPECT_EQ(call(json_request("/robots.txt", "{}")).result_int(), 404u);
}

TEST_F(FunctionServerTest, WrongMethodsAre405) {
    auto get_root = call(Request{http::verb::get, "/", 11});
    EXPECT_EQ(get_root.result_int(), 405u);
    EXPECT_EQ(header(get_root, "Allow"), "POST");
    auto post_health = call(json_request("/health", "{}"));
    EXPECT_EQ(post_health.result_int(), 405u);
    EXPECT_EQ(header(post_health, "Allow"), "GET");
    EXPECT_EQ(call(Request{http::verb::delete_, "/job/1", 11}).result_int(), 405u);
}

// ---- bad input ---------------------------------------------------------------

TEST_F(FunctionServerTest, MalformedJsonIs400) {
    for (const char* body : {R"({"job_id":0,"args":[1,2)", "not json", "", R"({"job_id":0,"args":[256]})",
                             R"({"job_id":-3,"args":[]})", "[]"}) {
        auto res = call(json_request("/", body));
        EXPECT_EQ(res.result_int(), 400u) << body;
        EXPECT_NE(res.body().find(R"("code":"bad_request")"), std::string::npos) << res.body();
    }
    expect_alive();
}

TEST_F(FunctionServerTest, BadBinaryHeadersAre400) {
    EXPECT_EQ(call(binary_request("/", "x")).result_int(), 400u);  // no job id at all
    EXPECT_EQ(call(binary_request("/", "x", "zz")).result_int(), 400u);
    auto req = binary_request("/", "x", "0");
    req.set(wire::header_metadata, "not base64!");
    EXPECT_EQ(call(std::move(req)).result_int(), 400u);
}

TEST_F(FunctionServerTest, MalformedHttpIs400AndCloses) {
    run([&]() -> asio::awaitable<void> {
        Client c(ioc);
        co_await c.connect(server.port);
        co_await c.write_raw("THIS IS NOT HTTP\r\n\r\n");
        auto res = co_await c.read();
        EXPECT_EQ(res.result_int(), 400u);
        EXPECT_FALSE(res.keep_alive());
        EXPECT_TRUE(co_await c.closed_by_peer());
    }());
    expect_alive();
}

TEST_F(FunctionServerTest, ExpectContinueIsAnswered) {
    run([&]() -> asio::awaitable<void> {
        Client c(ioc);
        co_await c.connect(server.port);
        const std::string body = R"({"job_id":0,"args":[1,2,3]})";
        co_await c.write_raw("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n");
        auto interim = co_await c.read();
        EXPECT_EQ(interim.result_int(), 100u);
        co_await c.write_raw(body);
        auto res = co_await c.read();
        EXPECT_EQ(res.result_int(), 200u);
        EXPECT_EQ(decode(res).result, (Bytes{1, 2, 3}));
    }());
}

TEST_F(FunctionServerTest, PeerVanishingMidRequestDoesNotHurtTheServer) {
    run([&]() -> asio::awaitable<void> {
        Client c(ioc);
        co_await c.connect(server.port);
        co_await c.write_raw("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"job_id\":0");
        c.socket().close();
    }());
    expect_alive();
}

TEST(FunctionServerLimits, OversizedBodyIs413) {
    asio::io_context ioc;
    auto server = FunctionServer::start({{"TEST_FUNCTION_MAX_BODY_BYTES", "1024"}});
    blueprint::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        // Declared too large: refused from the header, before any body is sent.
        Client c(ioc);
        co_await c.connect(server.port);
        co_await c.write_raw("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n");
        auto res = co_await c.read();
        EXPECT_EQ(res.result_int(), 413u);
        EXPECT_NE(res.body().find("payload_too_large"), std::string::npos);
        EXPECT_FALSE(res.keep_alive());

        // Chunked, so the size is only known as it arrives.
        Client chunked(ioc);
        co_await chunked.connect(server.port);
        std::string big(2000, '1');
        co_await chunked.write_raw("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" + big + "\r\n");
        auto res2 = co_await chunked.read();
        EXPECT_EQ(res2.result_int(), 413u);

        // Just under the limit still works.
        Client ok(ioc);
        co_await ok.connect(server.port);
        auto small = co_await ok.send(job_request(0, Bytes(200, 7)));
        EXPECT_EQ(small.result_int(), 200u);
        EXPECT_LE(small.body().size(), 1024u * 4);
    }());
}

// ---- the handler firewall ----------------------------------------------------

TEST_F(FunctionServerTest, ThrowBecomesAnErrorReplyAndTheServerLives) {
    run([&]() -> asio::awaitable<void> {
        Client c(ioc);
        co_await c.connect(server.port);
        auto res = co_await c.send(job_request(2, {}));
        EXPECT_EQ(res.result_int(), 200u);  // policy: a failed job is 200 + success:false
        auto reply = decode(res);
        EXPECT_FALSE(reply.success);
        EXPECT_EQ(reply.error_type, "HandlerException");
        EXPECT_EQ(reply.error, "fixture: thrown on purpose");
        // Same keep-alive connection, next request.
        auto again = co_await c.send(job_request(0, to_bytes("after")));
        EXPECT_EQ(decode(again).result, to_bytes("after"));
    }());
}

TEST_F(FunctionServerTest, ErrorResultBecomesAnErrorReply) {
    auto reply = decode(call(job_request(1, {})));
    EXPECT_FALSE(reply.success);
    EXPECT_EQ(reply.error, "requested failure");
    EXPECT_EQ(reply.error_type, "FixtureError");
    auto unknown = decode(call(job_request(99, {})));
    EXPECT_FALSE(unknown.success);
    EXPECT_EQ(unknown.error_type, "UnknownJob");
}

TEST_F(FunctionServerTest, CrashKillsTheProcessAndTheClientSeesIt) {
    run([&]() -> asio::awaitable<void> {
        Client c(ioc);
        co_await c.connect(server.port);
        auto req = job_request(4, {});
        req.prepare_payload();
        co_await http::async_write(c.socket(), req, asio::use_awaitable);
        EXPECT_TRUE(co_await c.closed_by_peer());
    }());
    auto status = server.process.wait_for(20s);
    ASSERT_TRUE(status);
    EXPECT_FALSE(status->exited);
    EXPECT_EQ(status->signal, SIGABRT);
}

// ---- warm-up and cold start --------------------------------------------------

TEST_F(FunctionServerTest, WarmupDoesNotRunTheHandler) {
    // Job 4 aborts the process if it runs.
    auto res = call(json_request("/", wire::encode_warmup_json(JobId(4))));
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_NE(res.body().find(R"("warmed":true)"), std::string::npos) << res.body();
    auto reply = decode(res);
    EXPECT_TRUE(reply.success);
    EXPECT_TRUE(reply.result.empty());

    // The header marks a warm-up whatever the body says.
    auto by_header = job_request(4, {});
    by_header.set(wire::header_warmup, "1");
    EXPECT_NE(call(std::move(by_header)).body().find(R"("warmed":true)"), std::string::npos);
    auto binary = binary_request("/job/4", "");
    binary.set(wire::header_warmup, "1");
    auto bres = call(std::move(binary));
    EXPECT_EQ(header(bres, wire::header_status), "ok");

    expect_alive();
    EXPECT_TRUE(server.process.running());
}

TEST_F(FunctionServerTest, ColdStartOnlyOnTheFirstRequest) {
    auto first = call(job_request(0, {}));
    EXPECT_EQ(header(first, wire::header_cold_start), "1");
    EXPECT_EQ(decode(first).cold_start, true);
    for (int i = 0; i < 3; ++i) {
        auto later = call(job_request(0, {}));
        EXPECT_EQ(header(later, wire::header_cold_start), "");
        EXPECT_FALSE(decode(later).cold_start.value_or(false));
    }
}

TEST_F(FunctionServerTest, WarmupTakesTheColdStart) {
    auto warm = call(json_request("/", wire::encode_warmup_json(JobId(0))));
    EXPECT_EQ(header(warm, wire::header_cold_start), "1");
    auto job = call(job_request(0, {}));
    EXPECT_EQ(header(job, wire::header_cold_start), "");
}

// ---- size and concurrency ----------------------------------------------------

TEST_F(FunctionServerTest, EightMiBPayloads) {
    Bytes big(8 * 1024 * 1024);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>((i * 31) ^ (i >> 11));
    run([&]() -> asio::awaitable<void> {
        Client c(ioc);
        co_await c.connect(server.port);
        auto json = co_await c.send(job_request(0, big));
        EXPECT_EQ(json.result_int(), 200u);
        EXPECT_TRUE(decode(json).result == big);
        auto bin = co_await c.send(binary_request("/", std::string(big.begin(), big.end()), "0"));
        EXPECT_EQ(bin.result_int(), 200u);
        EXPECT_TRUE(to_bytes(bin.body()) == big);
    }());
}

TEST_F(FunctionServerTest, ConcurrentConnections) {
    constexpr int connections = 16, per_connection = 25;
    int finished = 0, correct = 0;
    for (int c = 0; c < connections; ++c) {
        asio::co_spawn(
            ioc,
            [&, c]() -> asio::awaitable<void> {
                Client client(ioc);
                co_await client.connect(server.port);
                for (int i = 0; i < per_connection; ++i) {
                    const std::string payload = "conn " + std::to_string(c) + " req " + std::to_string(i);
                    auto res = co_await client.send(job_request(0, to_bytes(payload)));
                    if (res.result_int() == 200 && decode(res).result == to_bytes(payload)) ++correct;
                }
            },
            [&](std::exception_ptr e) {
                ++finished;
                if (e) ADD_FAILURE() << "a client coroutine failed";
            });
    }
    ioc.run_for(60s);
    EXPECT_EQ(finished, connections);
    EXPECT_EQ(correct, connections * per_connection);
}

TEST_F(FunctionServerTest, SlowHandlerDoesNotBlockOtherConnections) {
    // A 30 s job is in flight; /health and an echo must still be answered.
    // The run_coro bound (10 s) is far below the job's length, so a server
    // that ran handlers on its I/O thread fails here instead of passing late.
    Client slow(ioc);
    run([&]() -> asio::awaitable<void> {
        co_await slow.connect(server.port);
        auto req = json_request("/", wire::encode_request_json(JobCall(3, to_bytes("30000"))));
        req.prepare_payload();
        co_await http::async_write(slow.socket(), req, asio::use_awaitable);
    }());
    ASSERT_TRUE(server.process.wait_for_stderr("slow: started", 20s));
    run(
        [&]() -> asio::awaitable<void> {
            Client c(ioc);
            co_await c.connect(server.port);
            auto health = co_await c.send(Request{http::verb::get, "/health", 11});
            EXPECT_EQ(health.result_int(), 200u);
            auto echo = co_await c.send(job_request(0, to_bytes("meanwhile")));
            EXPECT_EQ(decode(echo).result, to_bytes("meanwhile"));
        }(),
        10s);
    server.process.kill();
    slow.socket().close();
}

// ---- shutdown ----------------------------------------------------------------

TEST_F(FunctionServerTest, SigtermFinishesTheInFlightRequestThenExitsZero) {
    Client busy(ioc), idle(ioc);
    run([&]() -> asio::awaitable<void> {
        co_await idle.connect(server.port);
        auto res = co_await idle.send(Request{http::verb::get, "/health", 11});  // accepted, now idle
        EXPECT_EQ(res.result_int(), 200u);
        co_await busy.connect(server.port);
        auto req = json_request("/", wire::encode_request_json(JobCall(3, to_bytes("300"))));
        req.set(http::field::host, "127.0.0.1");
        req.prepare_payload();
        co_await http::async_write(busy.socket(), req, asio::use_awaitable);
    }());
    ASSERT_TRUE(server.process.wait_for_stderr("slow: started", 20s));
    server.process.signal(SIGTERM);

    run([&]() -> asio::awaitable<void> {
        auto res = co_await busy.read();
        EXPECT_EQ(res.result_int(), 200u);
        EXPECT_EQ(decode(res).result, to_bytes("slept 300"));
        EXPECT_FALSE(res.keep_alive()) << "the last reply should say Connection: close";
        EXPECT_TRUE(co_await busy.closed_by_peer());
        EXPECT_TRUE(co_await idle.closed_by_peer()) << "idle keep-alive connections are closed on shutdown";
    }());
    auto status = server.process.wait_for(20s);
    ASSERT_TRUE(status) << "the server did not exit after SIGTERM";
    EXPECT_TRUE(status->ok()) << status->to_string();
}

TEST_F(FunctionServerTest, SigintWhenIdleExitsZero) {
    server.process.signal(SIGINT);
    auto status = server.process.wait_for(20s);
    ASSERT_TRUE(status);
    EXPECT_TRUE(status->ok()) << status->to_string();
}

// ---- mode selection ------------------------------------------------------------

TEST(FunctionServerModes, PortFromTheEnvironment) {
    asio::io_context ioc;
    auto server = FunctionServer::start({{"PORT", "0"}}, {});
    auto res = blueprint::test::run_coro(ioc, [&]() -> asio::awaitable<Response> {
        Client c(ioc);
        co_await c.connect(server.port);
        co_return co_await c.send(Request{http::verb::get, "/health", 11});
    }());
    EXPECT_EQ(res.result_int(), 200u);
}

TEST(FunctionServerModes, BadPortIsAnError) {
    auto p = ChildProcess::spawn(function_path, {"--port", "99999"}, clean_env());
    auto out = p.communicate("", 20s);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->status.code, 2);
    EXPECT_NE(out->err.find("--port"), std::string::npos) << out->err;
}

// ---- stdin/stdout mode ---------------------------------------------------------

struct StdioRun {
    std::string out, err;
    blueprint::test::ExitStatus status;
};

StdioRun run_stdio(std::string_view input, std::vector<std::pair<std::string, std::string>> env = {},
                   const std::string& path = function_path) {
    auto p = ChildProcess::spawn(path, {}, clean_env(std::move(env)));
    auto out = p.communicate(input, 60s);
    if (!out) throw std::runtime_error("stdio run timed out");
    return {out->out, out->err, out->status};
}

TEST(FunctionStdio, EchoExitsZero) {
    auto r = run_stdio(R"({"job_id":0,"args":[104,105]})");
    EXPECT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.out, "{\"result\":[104,105]}\n");
}

TEST(FunctionStdio, JobErrorExitsOneWithTheErrorReply) {
    auto r = run_stdio(R"({"job_id":1,"args":[]})");
    EXPECT_EQ(r.status.code, 1);
    auto reply = wire::decode_reply_json(r.out);
    ASSERT_TRUE(reply) << r.out;
    EXPECT_FALSE(reply->success);
    EXPECT_EQ(reply->error_type, "FixtureError");

    auto thrown = run_stdio(R"({"job_id":2,"args":[]})");
    EXPECT_EQ(thrown.status.code, 1);
    auto treply = wire::decode_reply_json(thrown.out);
    ASSERT_TRUE(treply);
    EXPECT_EQ(treply->error_type, "HandlerException");
}

TEST(FunctionStdio, BadInputExitsTwo) {
    for (const char* input : {"", "{", R"({"job_id":0,"args":[999]})", "[1,2]", R"({"args":[]})"}) {
        auto r = run_stdio(input);
        EXPECT_EQ(r.status.code, 2) << input;
        EXPECT_FALSE(r.err.empty()) << "no stderr message for: " << input;
        auto reply = wire::decode_reply_json(r.out);
        ASSERT_TRUE(reply) << "stdout is not a reply: " << r.out;
        EXPECT_FALSE(reply->success);
        EXPECT_EQ(reply->error_type, "BadRequest");
    }
}

TEST(FunctionStdio, OversizedInputExitsTwo) {
    auto r = run_stdio(wire::encode_request_json(JobCall(0, Bytes(1000, 1))), {{"TEST_FUNCTION_MAX_BODY_BYTES", "100"}});
    EXPECT_EQ(r.status.code, 2);
    EXPECT_NE(r.err.find("limit"), std::string::npos) << r.err;
}

TEST(FunctionStdio, WarmupDoesNotRunTheHandler) {
    auto r = run_stdio(wire::encode_warmup_json(JobId(4)));  // 4 would abort
    EXPECT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_NE(r.out.find(R"("warmed":true)"), std::string::npos);
}

TEST(FunctionStdio, ContextSaysStdio) {
    auto r = run_stdio(R"({"job_id":7,"args":[]})");
    auto reply = wire::decode_reply_json(r.out);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->result, to_bytes("mode=stdio;request_id="));
}

TEST(FunctionStdio, LargePayload) {
    Bytes big(2 * 1024 * 1024, 0xAB);
    auto r = run_stdio(wire::encode_request_json(JobCall(0, big)));
    ASSERT_TRUE(r.status.ok()) << r.status.to_string() << r.err;
    auto reply = wire::decode_reply_json(r.out);
    ASSERT_TRUE(reply);
    EXPECT_TRUE(reply->result == big);
}

TEST(SquareExample, SquaresAndRejectsBadInput) {
    const auto path = blueprint::test::build_path("examples/square");
    ASSERT_EQ(::access(path.c_str(), X_OK), 0) << "examples not built: " << path;
    auto ok = run_stdio(R"({"job_id":0,"args":[0,0,0,0,0,0,0,7]})", {}, path);
    EXPECT_TRUE(ok.status.ok());
    EXPECT_EQ(ok.out, "{\"result\":[0,0,0,0,0,0,0,49]}\n");
    auto bad = run_stdio(R"({"job_id":0,"args":[]})", {}, path);
    EXPECT_EQ(bad.status.code, 1);
    EXPECT_NE(bad.out.find("InvalidInput"), std::string::npos) << bad.out;
    auto overflow = run_stdio(R"({"job_id":0,"args":[1,0,0,0,0]})", {}, path);
    EXPECT_EQ(overflow.status.code, 1);
    EXPECT_NE(overflow.out.find("Overflow"), std::string::npos) << overflow.out;
}

}  // namespace

// ---- Lambda Runtime API mode against a fake Runtime API ----------------------
//
// A hand-driven peer on plain POSIX sockets, so a test decides byte by byte
// what the runtime sees and when: whether the `next` reply offers pipelining
// (lambda::pipelining_header), when the 202 goes out, whether replies are
// coalesced into one send, and when the connection closes. Every wait is a
// poll() with a deadline, so a runtime that misbehaves fails the test instead
// of hanging it.

namespace {

using namespace std::chrono_literals;

struct RawRequest {
    std::string method, target;
    std::map<std::string, std::string> headers;  // lowercase names
    std::string body;
    std::string header(const std::string& lname) const {
        auto it = headers.find(lname);
        return it == headers.end() ? std::string() : it->second;
    }
};

class FakeRuntimeApi {
public:
    FakeRuntimeApi() {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listen_fd_ < 0) throw std::runtime_error("socket failed");
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = 0;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 8) != 0)
            throw std::runtime_error("bind/listen failed");
        socklen_t len = sizeof addr;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
    }
    ~FakeRuntimeApi() {
        close_connection();
        ::close(listen_fd_);
    }
    FakeRuntimeApi(const FakeRuntimeApi&) = delete;
    FakeRuntimeApi& operator=(const FakeRuntimeApi&) = delete;

    unsigned short port() const { return port_; }
    std::string runtime_api() const { return "127.0.0.1:" + std::to_string(port_); }

    /// Accepts the runtime's next connection (dropping the current one).
    bool accept(std::chrono::milliseconds timeout) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
        close_connection();
        conn_fd_ = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        ++accepted_;
        return conn_fd_ >= 0;
    }
    int accepted() const { return accepted_; }

    /// One whole request (head and Content-Length body) from the current
    /// connection; nullopt when it does not come in time or the peer closes.
    std::optional<RawRequest> read_request(std::chrono::milliseconds timeout = 10s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (auto req = take_request()) return req;
            if (!fill(deadline)) return std::nullopt;
        }
    }

    /// True when nothing at all arrives on the connection for `window`
    /// (bytes already buffered count as arrived).
    bool silent_for(std::chrono::milliseconds window) {
        if (!buffer_.empty()) return false;
        pollfd p{conn_fd_, POLLIN, 0};
        return ::poll(&p, 1, static_cast<int>(window.count())) == 0;
    }

    /// Bytes received but not yet taken as a request.
    const std::string& pending() const { return buffer_; }

    /// Everything in one send() (loops only on a short write).
    bool send_all(std::string_view data) {
        while (!data.empty()) {
            auto n = ::send(conn_fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    void close_connection() {
        if (conn_fd_ >= 0) ::close(conn_fd_);
        conn_fd_ = -1;
        buffer_.clear();
    }

private:
    bool fill(std::chrono::steady_clock::time_point deadline) {
        if (conn_fd_ < 0) return false;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{conn_fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) != 1) return false;
        char chunk[16384];
        auto n = ::recv(conn_fd_, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }

    std::optional<RawRequest> take_request() {
        auto end = buffer_.find("\r\n\r\n");
        if (end == std::string::npos) return std::nullopt;
        RawRequest req;
        std::string_view head(buffer_.data(), end);
        auto line_end = head.find("\r\n");
        std::string_view line = head.substr(0, line_end);
        auto sp1 = line.find(' ');
        auto sp2 = line.find(' ', sp1 + 1);
        req.method = std::string(line.substr(0, sp1));
        req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
        std::string_view rest = line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
        while (!rest.empty()) {
            auto e = rest.find("\r\n");
            std::string_view field = rest.substr(0, e);
            rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 2);
            auto colon = field.find(':');
            if (colon == std::string_view::npos) continue;
            std::string name(field.substr(0, colon));
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::string_view value = field.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            req.headers[name] = std::string(value);
        }
        const std::size_t length = req.headers.contains("content-length") ? std::stoul(req.headers["content-length"]) : 0;
        if (buffer_.size() < end + 4 + length) return std::nullopt;
        req.body = buffer_.substr(end + 4, length);
        buffer_.erase(0, end + 4 + length);
        return req;
    }

    int listen_fd_ = -1;
    int conn_fd_ = -1;
    unsigned short port_ = 0;
    int accepted_ = 0;
    std::string buffer_;
};

constexpr std::string_view next_path = "/2018-06-01/runtime/invocation/next";

std::string event_reply(std::string_view request_id, std::string_view body, bool offer_pipelining) {
    const auto deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
                              (std::chrono::system_clock::now() + 60s).time_since_epoch())
                              .count();
    std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";
    out += "Lambda-Runtime-Aws-Request-Id: " + std::string(request_id) + "\r\n";
    out += "Lambda-Runtime-Deadline-Ms: " + std::to_string(deadline) + "\r\n";
    out += "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:fake\r\n";
    if (offer_pipelining) out += "Blueprint-Runtime-Pipelining: 1\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    out += body;
    return out;
}

std::string accepted_reply(bool close = false) {
    constexpr std::string_view body = R"({"status":"OK"})";
    std::string out = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n";
    if (close) out += "Connection: close\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    out += body;
    return out;
}

// test_function in Lambda mode, pointed at `api`.
ChildProcess start_lambda_runtime(const FakeRuntimeApi& api) {
    ProcessOptions o;
    o.env = {{"AWS_LAMBDA_RUNTIME_API", api.runtime_api()}};
    o.unset_env = {"PORT", "FUNCTIONS_CUSTOMHANDLER_PORT"};
    // Its log goes straight to the test's output, where a failure needs it.
    o.pipe_stdin = o.pipe_stdout = o.pipe_stderr = false;
    return ChildProcess::spawn(function_path, {}, o);
}

// The runtime's first contact: connect and GET next.
void expect_next(FakeRuntimeApi& api, bool accept_first = true) {
    if (accept_first) {
        ASSERT_TRUE(api.accept(20s)) << "the runtime never connected";
    }
    auto req = api.read_request();
    ASSERT_TRUE(req) << "no request";
    EXPECT_EQ(req->method, "GET");
    EXPECT_EQ(req->target, next_path);
}

void expect_echo_response(const std::optional<RawRequest>& req, std::string_view request_id, const Bytes& args) {
    ASSERT_TRUE(req);
    EXPECT_EQ(req->method, "POST");
    EXPECT_EQ(req->target, "/2018-06-01/runtime/invocation/" + std::string(request_id) + "/response");
    auto reply = wire::decode_reply_json(req->body);
    ASSERT_TRUE(reply) << req->body;
    EXPECT_TRUE(reply->success);
    EXPECT_EQ(reply->result, args) << req->body;
}

TEST(FunctionLambdaMode, NoPipeliningUnlessTheServerOffersIt) {
    FakeRuntimeApi api;
    auto child = start_lambda_runtime(api);
    ASSERT_NO_FATAL_FAILURE(expect_next(api));
    ASSERT_TRUE(api.send_all(event_reply("req-1", R"({"job_id":0,"args":[1,2,3]})", false)));

    auto post = api.read_request();
    ASSERT_NO_FATAL_FAILURE(expect_echo_response(post, "req-1", Bytes{1, 2, 3}));
    // The 202 is withheld: a plain runtime waits for it before asking again.
    EXPECT_TRUE(api.silent_for(300ms)) << "sent before the 202: " << api.pending();

    ASSERT_TRUE(api.send_all(accepted_reply()));
    auto next = api.read_request();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->method, "GET");
    EXPECT_EQ(next->target, next_path);
    EXPECT_EQ(api.accepted(), 1);  // one keep-alive connection throughout
    child.kill();
}

TEST(FunctionLambdaMode, PipelinesWhenTheServerOffersIt) {
    FakeRuntimeApi api;
    auto child = start_lambda_runtime(api);
    ASSERT_NO_FATAL_FAILURE(expect_next(api));
    ASSERT_TRUE(api.send_all(event_reply("req-1", R"({"job_id":0,"args":[1,2,3]})", true)));

    // The response and the next `next` arrive without any 202 from us.
    ASSERT_NO_FATAL_FAILURE(expect_echo_response(api.read_request(), "req-1", Bytes{1, 2, 3}));
    auto next = api.read_request();
    ASSERT_TRUE(next) << "no pipelined GET next";
    EXPECT_EQ(next->method, "GET");
    EXPECT_EQ(next->target, next_path);

    // The 202 and the next event in one send: the runtime must split them.
    ASSERT_TRUE(api.send_all(accepted_reply() + event_reply("req-2", R"({"job_id":0,"args":[9,8]})", true)));
    ASSERT_NO_FATAL_FAILURE(expect_echo_response(api.read_request(), "req-2", Bytes{9, 8}));
    ASSERT_TRUE(api.read_request()) << "no pipelined GET next after req-2";

    // A failed job goes to /error, with the next `next` pipelined as well.
    ASSERT_TRUE(api.send_all(accepted_reply() + event_reply("req-3", R"({"job_id":1,"args":[]})", true)));
    auto error = api.read_request();
    ASSERT_TRUE(error);
    EXPECT_EQ(error->method, "POST");
    EXPECT_EQ(error->target, "/2018-06-01/runtime/invocation/req-3/error");
    EXPECT_EQ(error->header("lambda-runtime-function-error-type"), "FixtureError");
    EXPECT_NE(error->body.find("requested failure"), std::string::npos) << error->body;
    auto after_error = api.read_request();
    ASSERT_TRUE(after_error) << "no pipelined GET next after an error";
    EXPECT_EQ(after_error->target, next_path);

    // And a reply that stops offering pipelining stops it.
    ASSERT_TRUE(api.send_all(accepted_reply() + event_reply("req-4", R"({"job_id":0,"args":[4]})", false)));
    ASSERT_NO_FATAL_FAILURE(expect_echo_response(api.read_request(), "req-4", Bytes{4}));
    EXPECT_TRUE(api.silent_for(300ms)) << "pipelined without the offer: " << api.pending();
    ASSERT_TRUE(api.send_all(accepted_reply()));
    auto plain_next = api.read_request();
    ASSERT_TRUE(plain_next);
    EXPECT_EQ(plain_next->target, next_path);
    EXPECT_EQ(api.accepted(), 1);
    child.kill();
}

TEST(FunctionLambdaMode, PipelinedNextIsResentAfterTheServerCloses) {
    FakeRuntimeApi api;
    auto child = start_lambda_runtime(api);
    ASSERT_NO_FATAL_FAILURE(expect_next(api));
    ASSERT_TRUE(api.send_all(event_reply("req-1", R"({"job_id":0,"args":[1,2,3]})", true)));
    ASSERT_NO_FATAL_FAILURE(expect_echo_response(api.read_request(), "req-1", Bytes{1, 2, 3}));
    ASSERT_TRUE(api.read_request()) << "no pipelined GET next";  // which this server will not answer

    ASSERT_TRUE(api.send_all(accepted_reply(/*close=*/true)));
    api.close_connection();

    // The runtime asks again on a new connection, once.
    ASSERT_NO_FATAL_FAILURE(expect_next(api));
    EXPECT_EQ(api.accepted(), 2);
    ASSERT_TRUE(api.send_all(event_reply("req-2", R"({"job_id":0,"args":[7]})", true)));
    ASSERT_NO_FATAL_FAILURE(expect_echo_response(api.read_request(), "req-2", Bytes{7}));
    child.kill();
}

// The server answers the 202 on a kept-alive connection and then drops it
// without answering the pipelined `next`: the runtime asks again on a new
// connection, without posting req-1's response a second time.
TEST(FunctionLambdaMode, PipelinedNextIsResentWhenTheServerDropsItUnanswered) {
    FakeRuntimeApi api;
    auto child = start_lambda_runtime(api);
    ASSERT_NO_FATAL_FAILURE(expect_next(api));
    ASSERT_TRUE(api.send_all(event_reply("req-1", R"({"job_id":0,"args":[5]})", true)));
    ASSERT_NO_FATAL_FAILURE(expect_echo_response(api.read_request(), "req-1", Bytes{5}));
    ASSERT_TRUE(api.read_request()) << "no pipelined GET next";
    ASSERT_TRUE(api.send_all(accepted_reply()));
    api.close_connection();

    ASSERT_NO_FATAL_FAILURE(expect_next(api));
    ASSERT_TRUE(api.send_all(event_reply("req-2", R"({"job_id":0,"args":[6]})", true)));
    ASSERT_NO_FATAL_FAILURE(expect_echo_response(api.read_request(), "req-2", Bytes{6}));
    child.kill();
}

}  // namespace
