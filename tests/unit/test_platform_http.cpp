// The platform's hand-built HTTP pieces, without sockets: response heads
// (http_head), the request parser that fills a plain struct
// (request_parser), and Invoke's JSON check (lambda_api::validate_json),
// which must agree with boost::json::parse.
#include "platform/http_head.hpp"
#include "platform/lambda_api.hpp"
#include "platform/request_parser.hpp"

#include <boost/beast/http/error.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace {
using namespace blueprint::platform;
namespace http = boost::beast::http;

TEST(PlatformHttp, ResponseHeadKeepAlive) {
    auto head = http_head::ResponseHead(200).field("Content-Type", "application/json").finish(15, true);
    EXPECT_EQ(head, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n");
}

TEST(PlatformHttp, ResponseHeadCloseAndHttp10) {
    EXPECT_EQ(http_head::ResponseHead(413).finish(2, false),
              "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 2\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(http_head::ResponseHead(202, 10).finish(0, true),
              "HTTP/1.0 202 Accepted\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
    EXPECT_EQ(http_head::ResponseHead(200, 10).finish(0, false), "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
}

TEST(PlatformHttp, ResponseHeadBodilessStatusesHaveNoLength) {
    EXPECT_TRUE(http_head::bodiless(204));
    EXPECT_TRUE(http_head::bodiless(304));
    EXPECT_TRUE(http_head::bodiless(101));
    EXPECT_FALSE(http_head::bodiless(200));
    EXPECT_EQ(http_head::ResponseHead(204).field("x-amzn-RequestId", "r").finish(0, true),
              "HTTP/1.1 204 No Content\r\nx-amzn-RequestId: r\r\n\r\n");
}

TEST(PlatformHttp, ResponseHeadValuesCannotSplitTheHead) {
    auto head = http_head::ResponseHead(200).field("X-A\r\n", "v\r\nInjected: 1").finish(0, true);
    EXPECT_EQ(head, "HTTP/1.1 200 OK\r\nX-A  : v  Injected: 1\r\nContent-Length: 0\r\n\r\n");
}

TEST(PlatformHttp, ResponseHeadUnknownStatusStillFramed) {
    auto head = http_head::ResponseHead(599).finish(3, true);
    EXPECT_TRUE(head.starts_with("HTTP/1.1 599 "));
    EXPECT_TRUE(head.ends_with("Content-Length: 3\r\n\r\n"));
}

struct Req {
    std::string method, target, body;
    std::vector<std::pair<std::string, std::string>> headers;
};

// Feeds `wire` to a parser in pieces of `step` bytes, as reads would.
boost::beast::error_code feed(RequestParser<Req>& p, std::string_view wire, std::size_t step) {
    p.eager(true);
    boost::beast::error_code ec;
    std::string pending;
    for (std::size_t i = 0; i < wire.size() && !p.is_done();) {
        const auto n = std::min(step, wire.size() - i);
        pending.append(wire.substr(i, n));
        i += n;
        const auto used = p.put(boost::asio::buffer(pending), ec);
        if (ec == http::error::need_more) {
            ec = {};
            pending.erase(0, used);
            continue;
        }
        if (ec) return ec;
        pending.erase(0, used);
    }
    if (!p.is_done()) return http::error::partial_message;
    return ec;
}

TEST(PlatformHttp, RequestParserFillsAPlainStruct) {
    for (std::size_t step : {1u, 7u, 4096u}) {
        Req r;
        RequestParser<Req> p(r);
        const std::string wire = "POST /2015-03-31/functions/f/invocations?Qualifier=%24LATEST HTTP/1.1\r\n"
                                 "Host: 127.0.0.1\r\nX-Amz-Log-Type: Tail\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
        ASSERT_FALSE(feed(p, wire, step)) << step;
        EXPECT_EQ(r.method, "POST");
        EXPECT_EQ(p.method(), http::verb::post);
        EXPECT_EQ(p.version(), 11u);
        EXPECT_TRUE(p.keep_alive());
        EXPECT_EQ(r.target, "/2015-03-31/functions/f/invocations?Qualifier=%24LATEST");
        ASSERT_EQ(r.headers.size(), 3u);
        EXPECT_EQ(r.headers[1], (std::pair<std::string, std::string>{"X-Amz-Log-Type", "Tail"}));
        EXPECT_EQ(r.body, "{\"a\":1}");
    }
}

TEST(PlatformHttp, RequestParserChunkedBodyAndClose) {
    Req r;
    RequestParser<Req> p(r);
    const std::string wire = "POST /x HTTP/1.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    ASSERT_FALSE(feed(p, wire, 5));
    EXPECT_EQ(r.body, "abcde");
    EXPECT_FALSE(p.keep_alive());
}

TEST(PlatformHttp, RequestParserEnforcesTheBodyLimitFromTheHeader) {
    Req r;
    RequestParser<Req> p(r);
    p.body_limit(4);
    const std::string wire = "POST /2018-06-01/runtime/invocation/abc/response HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    EXPECT_EQ(feed(p, wire, 4096), http::error::body_limit);
    // The target is known by then, to tell which invocation was too large.
    EXPECT_EQ(r.target, "/2018-06-01/runtime/invocation/abc/response");
    EXPECT_TRUE(r.body.empty());
}

TEST(PlatformHttp, RequestParserRejectsMalformedAndTruncated) {
    {
        Req r;
        RequestParser<Req> p(r);
        EXPECT_TRUE(feed(p, "GET / HTTP/1.1\r\nBad Header\r\n\r\n", 4096));
    }
    {
        Req r;
        RequestParser<Req> p(r);
        EXPECT_EQ(feed(p, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", 4096), http::error::partial_message);
    }
}

TEST(PlatformHttp, ValidateJsonAgreesWithBoostJson) {
    std::vector<std::string> docs = {
        "{}", "[]", "1", "-0.5e3", "\"s\"", "true", "null", " {\"a\":[1,2,{\"b\":null}]} \n",
        "{\"job_id\":0,\"args\":[1,2,3]}", "", " ", "{", "}", "[1,]", "{\"a\":}", "{} x", "{}{}", "nul", "01",
        "1.", "\"\\u12\"", "\"\\uD800\"", "\"\xff\"", "\"\xc3\xa9\"", "// c\n{}", "[1,2", "\"a\nb\"", "1e400",
        "18446744073709551616", "-", "{\"a\" 1}", "[\"\\q\"]"};
    docs.push_back(std::string(32, '[') + std::string(32, ']'));
    docs.push_back(std::string(33, '[') + std::string(33, ']'));
    for (const auto& doc : docs) {
        boost::system::error_code expected;
        boost::json::parse(doc, expected);
        const auto got = lambda_api::validate_json(doc);
        EXPECT_EQ(static_cast<bool>(got), static_cast<bool>(expected)) << doc << ": " << got.message() << " vs "
                                                                       << expected.message();
    }
}

}  // namespace
