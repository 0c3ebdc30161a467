// Built-in producers and consumers.
#include <blueprint/consumers.hpp>
#include <blueprint/faas/error.hpp>
#include <blueprint/producers.hpp>

#include "common/run_coro.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <future>
#include <limits>
#include <mutex>
#include <sstream>
#include <thread>

using namespace blueprint;
using blueprint::test::IoContextTest;
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

JobCall call_of(std::uint64_t id, std::string_view body = "") { return JobCall(JobId(id), to_bytes(body)); }

// Drains a producer until it ends.
asio::awaitable<std::vector<JobCall>> drain(Producer& p) {
    std::vector<JobCall> out;
    while (auto c = co_await p.next()) out.push_back(std::move(*c));
    co_return out;
}

struct CapturingLog {
    std::mutex mutex;
    std::vector<std::string> lines;
    LogSink sink() {
        return [this](LogLevel, std::string_view msg) {
            std::lock_guard lock(mutex);
            lines.emplace_back(msg);
        };
    }
};

struct TempFile {
    std::filesystem::path path;
    explicit TempFile(std::string_view content) {
        path = std::filesystem::temp_directory_path() /
               ("blueprint-h1-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
                std::to_string(reinterpret_cast<std::uintptr_t>(this)) + ".jsonl");
        std::ofstream(path, std::ios::binary) << content;
    }
    ~TempFile() { std::filesystem::remove(path); }
};

}  // namespace

// ------------------------------------------------------------------ VectorProducer

class ProducerTest : public IoContextTest {};

TEST_F(ProducerTest, VectorYieldsInOrderThenEnds) {
    VectorProducer p({call_of(1, "a"), call_of(2, "b"), call_of(3, "c")});
    auto calls = run(drain(p));
    ASSERT_EQ(calls.size(), 3u);
    EXPECT_EQ(calls[0].job_id(), JobId(1));
    EXPECT_EQ(to_string(calls[2].body()), "c");
    // Finished stays finished.
    EXPECT_FALSE(run(p.next()).has_value());
}

TEST_F(ProducerTest, EmptyVectorEndsImmediately) {
    VectorProducer p({});
    EXPECT_FALSE(run(p.next()).has_value());
}

// ------------------------------------------------------------------ JobChannel

TEST(JobChannel, TrySendRespectsCapacityAndClose) {
    JobChannel ch(2);
    EXPECT_TRUE(ch.try_send(call_of(1)));
    EXPECT_TRUE(ch.try_send(call_of(2)));
    EXPECT_FALSE(ch.try_send(call_of(3)));  // full
    EXPECT_FALSE(ch.is_closed());
    ch.close();
    EXPECT_TRUE(ch.is_closed());
    EXPECT_FALSE(ch.try_send(call_of(4)));
    EXPECT_FALSE(ch.send(call_of(5)));

    // Queued calls are still drained after close, then the producer ends.
    asio::io_context ioc;
    auto p = ch.producer();
    auto calls = blueprint::test::run_coro(ioc, drain(*p));
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[0].job_id(), JobId(1));
    EXPECT_EQ(calls[1].job_id(), JobId(2));
}

TEST_F(ProducerTest, ChannelParkedNextKeepsIoContextAliveUntilAnotherThreadSends) {
    JobChannel ch(4);
    auto p = ch.producer();
    std::optional<JobCall> got;
    bool done = false;
    asio::co_spawn(ioc, p->next(), [&](std::exception_ptr e, std::optional<JobCall> c) {
        ASSERT_FALSE(e);
        got = std::move(c);
        done = true;
    });
    ioc.poll();
    ASSERT_FALSE(done);
    // The parked next() counts as work: run() would not return early.
    EXPECT_FALSE(ioc.stopped());

    std::thread sender([&] { EXPECT_TRUE(ch.send(call_of(42, "hello"))); });
    sender.join();
    ioc.run_for(std::chrono::seconds(30));
    ASSERT_TRUE(done);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->job_id(), JobId(42));
    EXPECT_EQ(to_string(got->body()), "hello");
}

TEST_F(ProducerTest, ChannelCloseWakesParkedNext) {
    JobChannel ch;
    auto p = ch.producer();
    bool done = false;
    std::optional<JobCall> got = call_of(1);
    asio::co_spawn(ioc, p->next(), [&](std::exception_ptr e, std::optional<JobCall> c) {
        ASSERT_FALSE(e);
        got = std::move(c);
        done = true;
    });
    ioc.poll();
    ASSERT_FALSE(done);
    std::thread closer([&] { ch.close(); });
    closer.join();
    ioc.run_for(std::chrono::seconds(30));
    ASSERT_TRUE(done);
    EXPECT_FALSE(got.has_value());
}

TEST_F(ProducerTest, ChannelNextHonoursCancellation) {
    JobChannel ch;
    auto p = ch.producer();
    asio::cancellation_signal signal;
    bool done = false;
    std::exception_ptr error;
    asio::co_spawn(ioc, p->next(),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, std::optional<JobCall>) {
                       error = e;
                       done = true;
                   }));
    ioc.poll();
    ASSERT_FALSE(done);
    signal.emit(asio::cancellation_type::terminal);
    ioc.run_for(std::chrono::seconds(30));
    ASSERT_TRUE(done);
    ASSERT_TRUE(error);
    try {
        std::rethrow_exception(error);
    } catch (const boost::system::system_error& e) {
        EXPECT_EQ(e.code(), asio::error::operation_aborted);
    }

    // The channel still works for a later next().
    EXPECT_TRUE(ch.try_send(call_of(7)));
    auto c = run(p->next());
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->job_id(), JobId(7));
}

TEST(JobChannel, ManyCallsFromAnotherThreadWithSmallCapacity) {
    // The sender blocks whenever 3 calls are queued; every call arrives once, in order.
    constexpr std::uint64_t n = 500;
    JobChannel ch(3);
    auto p = ch.producer();
    asio::io_context ioc;
    std::vector<JobCall> received;
    std::thread io([&] { received = blueprint::test::run_coro(ioc, drain(*p)); });
    for (std::uint64_t i = 0; i < n; ++i) ASSERT_TRUE(ch.send(call_of(i)));
    ch.close();
    io.join();
    ASSERT_EQ(received.size(), n);
    for (std::uint64_t i = 0; i < n; ++i) EXPECT_EQ(received[i].job_id(), JobId(i));
}

TEST(JobChannel, SendVersusParkRacesLoseNothing) {
    // Each round races one send against next() parking; a lost wake-up would
    // leave run_coro waiting until its deadline.
    for (int round = 0; round < 200; ++round) {
        JobChannel ch(1);
        auto p = ch.producer();
        asio::io_context ioc;
        std::thread sender([&] { ch.send(call_of(static_cast<std::uint64_t>(round))); });
        auto got = blueprint::test::run_coro(ioc, p->next(), std::chrono::seconds(30));
        sender.join();
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(got->job_id(), JobId(static_cast<std::uint64_t>(round)));
    }
}

TEST(JobChannel, BlockedSendIsReleasedByClose) {
    JobChannel ch(1);
    ASSERT_TRUE(ch.try_send(call_of(1)));
    std::promise<bool> sent;
    std::thread t([&] { sent.set_value(ch.send(call_of(2))); });
    ch.close();
    EXPECT_FALSE(sent.get_future().get());
    t.join();
}

// ------------------------------------------------------------------ parse_job_call_json

TEST(ParseJobCallJson, BlueprintRequest) {
    auto c = parse_job_call_json(R"({"job_id":7,"args":[112,97,121]})");
    ASSERT_TRUE(c.has_value()) << c.error().to_string();
    EXPECT_EQ(c->job_id(), JobId(7));
    EXPECT_EQ(to_string(c->body()), "pay");
    EXPECT_TRUE(c->metadata().empty());
}

TEST(ParseJobCallJson, StringArgsHexIdMetadataAndUnknownFields) {
    auto c = parse_job_call_json(
        R"({"job_id":"0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff","args":"text",)"
        R"("metadata":{"X-TANGLE-CALL-ID":[0,0,0,0,0,0,0,5],"note":"hi"},"extra":{"ignored":true}})");
    ASSERT_TRUE(c.has_value()) << c.error().to_string();
    EXPECT_EQ(c->job_id().to_hex(), "0x" + std::string(64, 'f'));
    EXPECT_EQ(to_string(c->body()), "text");
    EXPECT_EQ(c->metadata().get(metadata_keys::call_id)->to_u64().value(), 5u);
    EXPECT_EQ(c->metadata().get("note")->as_string_view(), "hi");
}

TEST(ParseJobCallJson, U64MaxAndMissingArgs) {
    auto c = parse_job_call_json(R"({"job_id":18446744073709551615})");
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->job_id().to_u64().value(), 18446744073709551615ULL);
    EXPECT_TRUE(c->body().empty());
}

TEST(ParseJobCallJson, RejectsMalformed) {
    for (std::string_view bad : {
             R"()", R"({)", R"([1,2])", R"("str")", R"({"args":[1]})", R"({"job_id":-1})", R"({"job_id":1.5})",
             R"({"job_id":"abc"})", R"({"job_id":"0x1)" "00000000000000000000000000000000000000000000000000000000000000000\"}",
             R"({"job_id":1,"args":[256]})", R"({"job_id":1,"args":[-1]})", R"({"job_id":1,"args":[1.0]})",
             R"({"job_id":1,"args":{"a":1}})", R"({"job_id":1,"args":[1],"metadata":[1]})",
             R"({"job_id":1,"metadata":{"k":5}})", R"({"job_id":1,"metadata":{"k":[300]}})",
             R"({"job_id":true})", R"({"job_id":1} trailing)"}) {
        auto c = parse_job_call_json(bad);
        EXPECT_FALSE(c.has_value()) << bad;
        if (!c) {
            EXPECT_FALSE(c.error().message.empty()) << bad;
        }
    }
    // Untrusted text is quoted only in part.
    auto huge = parse_job_call_json("{\"job_id\":\"" + std::string(10000, 'z') + "\"}");
    ASSERT_FALSE(huge.has_value());
    EXPECT_LT(huge.error().message.size(), 200u);
    // A too-wide decimal string is out_of_range, not truncated.
    auto wide = parse_job_call_json(R"({"job_id":"18446744073709551616"})");
    ASSERT_FALSE(wide.has_value());
    EXPECT_EQ(wide.error().code, job_id_errc::out_of_range);
}

// ------------------------------------------------------------------ JsonLinesProducer

TEST_F(ProducerTest, JsonLinesGoodMalformedAndSkippedLines) {
    std::istringstream in(
        "{\"job_id\":1,\"args\":[1,2]}\n"
        "\n"
        "# a comment\n"
        "   \n"
        "not json\n"
        "{\"job_id\":2,\"args\":\"x\"}\r\n"
        "{\"args\":[1]}\n"
        "{\"job_id\":\"0x10000000000000000\",\"metadata\":{\"k\":\"v\"}}");  // no final newline
    CapturingLog log;
    JsonLinesProducer p(in, log.sink());
    auto calls = run(drain(p));
    ASSERT_EQ(calls.size(), 3u);
    EXPECT_EQ(calls[0].body(), (Bytes{1, 2}));
    EXPECT_EQ(calls[1].job_id(), JobId(2));
    EXPECT_EQ(to_string(calls[1].body()), "x");
    EXPECT_FALSE(calls[2].job_id().fits_u64());
    EXPECT_EQ(calls[2].job_id().to_hex(), "0x10000000000000000");
    EXPECT_EQ(calls[2].metadata().get("k")->as_string_view(), "v");
    EXPECT_EQ(p.malformed_lines(), 2u);
    ASSERT_EQ(log.lines.size(), 2u);
    EXPECT_NE(log.lines[0].find("stream:5:"), std::string::npos) << log.lines[0];
    EXPECT_NE(log.lines[1].find("stream:7:"), std::string::npos) << log.lines[1];
    EXPECT_NE(log.lines[1].find("job_id"), std::string::npos) << log.lines[1];
}

TEST_F(ProducerTest, JsonLinesRefusesOversizeLinesAndContinues) {
    std::string big = "{\"job_id\":1,\"args\":[" + std::string(200, ' ') + "1]}";
    std::string exact = "{\"job_id\":3,\"args\":[9]}";  // 23 bytes
    ASSERT_EQ(exact.size(), 23u);
    std::istringstream in(big + "\n" + "{\"job_id\":2}\n" + exact + "\r\n" + big);
    CapturingLog log;
    JsonLinesProducer p(in, log.sink(), 23);
    auto calls = run(drain(p));
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[0].job_id(), JobId(2));
    EXPECT_EQ(calls[1].job_id(), JobId(3));
    EXPECT_EQ(p.malformed_lines(), 2u);
    ASSERT_EQ(log.lines.size(), 2u);
    EXPECT_NE(log.lines[0].find(":1:"), std::string::npos);
    EXPECT_NE(log.lines[0].find("longer than 23"), std::string::npos);
    EXPECT_NE(log.lines[1].find(":4:"), std::string::npos);
}

TEST_F(ProducerTest, JsonLinesFromFile) {
    TempFile f("{\"job_id\":5,\"args\":[65]}\n{\"job_id\":6}\n");
    JsonLinesProducer p(f.path, LogSink{});
    EXPECT_EQ(p.name(), "json-lines:" + f.path.string());
    auto calls = run(drain(p));
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(to_string(calls[0].body()), "A");
    EXPECT_EQ(p.malformed_lines(), 0u);
}

TEST_F(ProducerTest, JsonLinesFromStdinIsReadOffTheIoThread) {
    std::istringstream fake_stdin("{\"job_id\":1}\nbad\n{\"job_id\":2,\"args\":[7]}\n");
    auto* saved = std::cin.rdbuf(fake_stdin.rdbuf());
    std::vector<JobCall> calls;
    {
        CapturingLog log;
        JsonLinesProducer p(std::filesystem::path("-"), log.sink());
        EXPECT_EQ(p.name(), "json-lines:stdin");
        // The reader thread closes its channel only after reaching EOF, so
        // once drained it no longer touches std::cin.
        calls = run(drain(p));
        EXPECT_EQ(p.malformed_lines(), 1u);
        std::lock_guard lock(log.mutex);
        ASSERT_EQ(log.lines.size(), 1u);
        EXPECT_NE(log.lines[0].find("stdin:2:"), std::string::npos);
    }
    std::cin.rdbuf(saved);
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[1].body(), (Bytes{7}));
}

TEST_F(ProducerTest, JsonLinesMissingFileIsAProducerError) {
    JsonLinesProducer p(std::filesystem::path("/nonexistent/blueprint-h1/none.jsonl"), LogSink{});
    EXPECT_THROW(run(p.next()), boost::system::system_error);
}

TEST_F(ProducerTest, JsonLinesEmptyInput) {
    std::istringstream in("");
    JsonLinesProducer p(in, LogSink{});
    EXPECT_FALSE(run(p.next()).has_value());
}

// ------------------------------------------------------------------ IntervalProducer

TEST_F(ProducerTest, IntervalProducesCountTimes) {
    IntervalProducer p(std::chrono::milliseconds(1), JobId(4), to_bytes("tick"), 3);
    auto start = std::chrono::steady_clock::now();
    auto calls = run(drain(p));
    ASSERT_EQ(calls.size(), 3u);
    for (const auto& c : calls) {
        EXPECT_EQ(c.job_id(), JobId(4));
        EXPECT_EQ(to_string(c.body()), "tick");
    }
    // Each call comes after at least one period (a lower bound only, not a timing assertion).
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(3));
    EXPECT_FALSE(run(p.next()).has_value());
}

TEST_F(ProducerTest, IntervalHonoursCancellation) {
    IntervalProducer p(std::chrono::hours(1), JobId(1));
    asio::cancellation_signal signal;
    bool done = false;
    std::exception_ptr error;
    asio::co_spawn(ioc, p.next(),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, std::optional<JobCall>) {
                       error = e;
                       done = true;
                   }));
    ioc.poll();
    ASSERT_FALSE(done);
    signal.emit(asio::cancellation_type::terminal);
    ioc.run_for(std::chrono::seconds(30));
    ASSERT_TRUE(done);
    EXPECT_TRUE(error);
}

// ------------------------------------------------------------------ consumers

TEST(JobResultJson, OkResult) {
    auto r = JobResult::ok(to_bytes("res"));
    r.set_job_id(JobId(7));
    r.metadata().insert("k", MetadataValue(Bytes{1, 2}));
    r.metadata().insert("secret", MetadataValue("hunter2", true));
    auto text = job_result_to_json(r);
    EXPECT_EQ(text.find("hunter2"), std::string::npos);
    auto v = json::parse(text).as_object();
    EXPECT_EQ(v.at("job_id").as_string(), "7");
    EXPECT_TRUE(v.at("ok").as_bool());
    EXPECT_EQ(v.at("result"), json::parse("[114,101,115]"));
    EXPECT_EQ(v.at("metadata").at("k"), json::parse("[1,2]"));
    EXPECT_EQ(v.at("metadata").at("secret").as_string(), "<redacted>");
    EXPECT_FALSE(v.contains("error"));
}

TEST(JobResultJson, ErrorCodesHaveStableNames) {
    auto faas = JobResult::error(faas::faas_errc::timeout, "took too long");
    auto v = json::parse(job_result_to_json(faas)).as_object();
    EXPECT_FALSE(v.at("ok").as_bool());
    EXPECT_EQ(v.at("error").at("code").as_string(), "faas.timeout");
    EXPECT_EQ(v.at("error").at("message").as_string(), "took too long");
    EXPECT_FALSE(v.contains("result"));

    auto cancelled = JobResult::error(job_errc::cancelled, "shutdown", "Cancelled");
    auto c = json::parse(job_result_to_json(cancelled)).as_object();
    EXPECT_EQ(c.at("error").at("code").as_string(), "job.cancelled");
    EXPECT_EQ(c.at("error").at("type").as_string(), "Cancelled");

    auto fn = JobResult::error(faas::faas_errc::function_error, "x");
    EXPECT_EQ(json::parse(job_result_to_json(fn)).at("error").at("code").as_string(), "faas.function_error");

    auto other = JobResult::error(boost::system::errc::make_error_code(boost::system::errc::connection_refused), "x");
    EXPECT_EQ(json::parse(job_result_to_json(other)).at("error").at("code").as_string(),
              "generic." + std::to_string(static_cast<int>(boost::system::errc::connection_refused)));
}

TEST(JobResultJson, WideIdsAreHex) {
    auto r = JobResult::ok({});
    r.set_job_id(JobId::from_hex("0x1" + std::string(40, '0')).value());
    EXPECT_EQ(json::parse(job_result_to_json(r)).at("job_id").as_string(), "0x1" + std::string(40, '0'));
    r.set_job_id(JobId(std::numeric_limits<std::uint64_t>::max()));
    EXPECT_EQ(json::parse(job_result_to_json(r)).at("job_id").as_string(), "18446744073709551615");
}

class ConsumerTest : public IoContextTest {};

TEST_F(ConsumerTest, JsonLinesConsumerWritesOneLinePerResult) {
    std::ostringstream out;
    JsonLinesConsumer c(out);
    auto a = JobResult::ok(to_bytes("a"));
    a.set_job_id(JobId(1));
    auto b = JobResult::error(faas::faas_errc::throttled, "slow down");
    b.set_job_id(JobId(2));
    run(c.send(a));
    run(c.send(b));
    std::istringstream lines(out.str());
    std::string line;
    std::vector<json::value> parsed;
    while (std::getline(lines, line)) parsed.push_back(json::parse(line));
    ASSERT_EQ(parsed.size(), 2u);
    EXPECT_EQ(parsed[0].at("job_id").as_string(), "1");
    EXPECT_EQ(parsed[0].at("result"), json::parse("[97]"));
    EXPECT_EQ(parsed[1].at("error").at("code").as_string(), "faas.throttled");
}

TEST_F(ConsumerTest, JsonLinesConsumerReportsWriteFailure) {
    std::ostringstream out;
    out.setstate(std::ios::badbit);
    JsonLinesConsumer c(out);
    EXPECT_THROW(run(c.send(JobResult::ok({}))), boost::system::system_error);
}

TEST_F(ConsumerTest, JsonLinesConsumerAppendsToFile) {
    TempFile f("");
    {
        JsonLinesConsumer c(f.path);
        run(c.send(JobResult::ok(to_bytes("1"))));
    }
    {
        JsonLinesConsumer c(f.path);
        run(c.send(JobResult::ok(to_bytes("2"))));
    }
    std::ifstream in(f.path);
    std::string l1, l2, l3;
    ASSERT_TRUE(std::getline(in, l1));
    ASSERT_TRUE(std::getline(in, l2));
    EXPECT_FALSE(std::getline(in, l3));
    EXPECT_EQ(json::parse(l1).at("result"), json::parse("[49]"));
    EXPECT_EQ(json::parse(l2).at("result"), json::parse("[50]"));
}

TEST(JsonLinesConsumer, UnwritablePathThrows) {
    EXPECT_THROW(JsonLinesConsumer(std::filesystem::path("/nonexistent/blueprint-h1/out.jsonl")),
                 boost::system::system_error);
}

TEST(CollectingConsumer, WaitForResultsFromAnotherThread) {
    CollectingConsumer c;
    asio::io_context ioc;
    std::thread t([&] {
        blueprint::test::run_coro(ioc, [](CollectingConsumer& c) -> asio::awaitable<void> {
            for (int i = 0; i < 3; ++i) co_await c.send(JobResult::ok(to_bytes(std::to_string(i))));
        }(c));
    });
    EXPECT_TRUE(c.wait_for(3, std::chrono::seconds(30)));
    t.join();
    EXPECT_EQ(c.size(), 3u);
    auto rs = c.results();
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_EQ(to_string(rs[2].body()), "2");
    // Nothing more is coming: the wait times out and says so.
    EXPECT_FALSE(c.wait_for(4, std::chrono::milliseconds(20)));
    EXPECT_TRUE(c.wait_for(0, std::chrono::milliseconds(0)));
}
