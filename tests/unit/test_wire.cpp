// Wire formats (ARCHITECTURE.md §4): golden strings in the Rust original's
// serde form, both directions; malformed, truncated and mistyped input; huge
// ids; round trips; base64. Also the HTTP mode's pure protocol mapping
// (src/function/protocol.hpp), which sits directly on these formats.
#include <blueprint/faas/wire.hpp>

#include "function/protocol.hpp"

#include <gtest/gtest.h>

#include <random>

namespace wire = blueprint::faas::wire;
using blueprint::Bytes;
using blueprint::JobCall;
using blueprint::JobId;
using blueprint::JobResult;
using blueprint::Metadata;
using blueprint::MetadataValue;
using blueprint::to_bytes;
using blueprint::faas::faas_errc;

namespace {

JobId big_id() {
    std::array<std::uint8_t, 32> be{};
    be[0] = 0x01;
    be[31] = 0x02;
    return JobId::from_bytes(be);
}

void expect_serialization_error(std::string_view json, std::string_view fragment, bool request = true) {
    if (request) {
        auto r = wire::decode_request_json(json);
        ASSERT_FALSE(r.has_value()) << "accepted: " << json;
        EXPECT_EQ(r.error().kind, faas_errc::serialization);
        EXPECT_NE(r.error().message.find(fragment), std::string::npos) << r.error().message;
    } else {
        auto r = wire::decode_reply_json(json);
        ASSERT_FALSE(r.has_value()) << "accepted: " << json;
        EXPECT_EQ(r.error().kind, faas_errc::serialization);
        EXPECT_NE(r.error().message.find(fragment), std::string::npos) << r.error().message;
    }
}

}  // namespace

// ---- requests: golden -------------------------------------------------------

TEST(WireRequest, EncodesTheOriginalsSerdeForm) {
    EXPECT_EQ(wire::encode_request_json(JobCall(7, to_bytes("payload"))),
              R"({"job_id":7,"args":[112,97,121,108,111,97,100]})");
    EXPECT_EQ(wire::encode_request_json(JobCall(0, {})), R"({"job_id":0,"args":[]})");
    EXPECT_EQ(wire::encode_request_json(JobCall(1, Bytes{0, 9, 10, 99, 100, 255})), R"({"job_id":1,"args":[0,9,10,99,100,255]})");
}

TEST(WireRequest, DecodesTheOriginalsSerdeForm) {
    auto r = wire::decode_request_json(R"({"job_id":7,"args":[112,97,121,108,111,97,100]})");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->job_id, JobId(7));
    EXPECT_EQ(r->args, to_bytes("payload"));
    EXPECT_TRUE(r->metadata.empty());
    EXPECT_FALSE(r->warmup);
}

TEST(WireRequest, DecodesWhitespaceAndFieldOrder) {
    auto r = wire::decode_request_json(" {\n \"args\" : [ 1 , 2 ] ,\t\"job_id\" : 3 }\n");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->job_id, JobId(3));
    EXPECT_EQ(r->args, (Bytes{1, 2}));
}

TEST(WireRequest, IgnoresUnknownFieldsOfAnyShape) {
    auto r = wire::decode_request_json(
        R"({"trace":{"a":[1,{"b":null}],"c":"x"},"job_id":4,"x":[300,-1,1.5,"s"],"args":[5],"y":true,"z":null})");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->job_id, JobId(4));
    EXPECT_EQ(r->args, (Bytes{5}));
}

TEST(WireRequest, AcceptsJobIdAsString) {
    auto dec = wire::decode_request_json(R"({"job_id":"42","args":[]})");
    ASSERT_TRUE(dec);
    EXPECT_EQ(dec->job_id, JobId(42));
    auto hex = wire::decode_request_json(R"({"job_id":"0x2a","args":[]})");
    ASSERT_TRUE(hex);
    EXPECT_EQ(hex->job_id, JobId(42));
}

TEST(WireRequest, U64IdsStayNumbers) {
    const JobId id(std::uint64_t{18446744073709551615ULL});
    const auto json = wire::encode_request_json(JobCall(id, {}));
    EXPECT_EQ(json, R"({"job_id":18446744073709551615,"args":[]})");
    auto r = wire::decode_request_json(json);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->job_id, id);
}

TEST(WireRequest, HugeIdsGoInJobIdHexOnly) {
    const auto json = wire::encode_request_json(JobCall(big_id(), Bytes{1}));
    // Shortest hex: the leading zero nibble of the top byte is dropped.
    EXPECT_EQ(json, R"({"job_id_hex":"0x1)" + std::string(61, '0') + R"(2","args":[1]})");
    auto r = wire::decode_request_json(json);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->job_id, big_id());
}

TEST(WireRequest, JobIdAndJobIdHexMustAgree) {
    auto same = wire::decode_request_json(R"({"job_id":16,"job_id_hex":"0x10","args":[]})");
    ASSERT_TRUE(same);
    EXPECT_EQ(same->job_id, JobId(16));
    expect_serialization_error(R"({"job_id":16,"job_id_hex":"0x11","args":[]})", "disagree");
}

TEST(WireRequest, RejectsBadJobIds) {
    expect_serialization_error(R"({"job_id":-1,"args":[]})", "job_id");
    expect_serialization_error(R"({"job_id":1.5,"args":[]})", "job_id");
    expect_serialization_error(R"({"job_id":true,"args":[]})", "job_id");
    expect_serialization_error(R"({"job_id":[1],"args":[]})", "job_id");
    expect_serialization_error(R"({"job_id":"seven","args":[]})", "job_id");
    // Beyond u64 as a number: JSON readers would round it; we refuse.
    expect_serialization_error(R"({"job_id":18446744073709551616,"args":[]})", "job_id");
    expect_serialization_error(R"({"job_id":"18446744073709551616","args":[]})", "job_id");
    expect_serialization_error(R"({"job_id_hex":"0xzz","args":[]})", "job_id_hex");
    expect_serialization_error(R"({"job_id_hex":5,"args":[]})", "job_id_hex");
}

TEST(WireRequest, RejectsMissingFields) {
    expect_serialization_error(R"({"args":[]})", "missing field 'job_id'");
    expect_serialization_error(R"({"job_id":1})", "missing field 'args'");
    expect_serialization_error(R"({"job_id":1,"args":null})", "missing field 'args'");
}

TEST(WireRequest, RejectsOutOfRangeBytesNamingFieldAndIndex) {
    expect_serialization_error(R"({"job_id":1,"args":[1,2,256]})", "'args' element 2");
    expect_serialization_error(R"({"job_id":1,"args":[-1]})", "'args' element 0");
    expect_serialization_error(R"({"job_id":1,"args":[1,2.0]})", "'args' element 1");
    expect_serialization_error(R"({"job_id":1,"args":[1e2]})", "'args' element 0");
    expect_serialization_error(R"({"job_id":1,"args":[99999999999999999999]})", "'args' element 0");
    expect_serialization_error(R"({"job_id":1,"args":["a"]})", "'args' element 0");
    expect_serialization_error(R"({"job_id":1,"args":[null]})", "'args' element 0");
    expect_serialization_error(R"({"job_id":1,"args":[[1]]})", "'args' element 0");
    expect_serialization_error(R"({"job_id":1,"args":[{}]})", "'args' element 0");
    expect_serialization_error(R"({"job_id":1,"args":[true]})", "'args' element 0");
}

TEST(WireRequest, RejectsWrongTypes) {
    expect_serialization_error(R"({"job_id":1,"args":"text"})", "'args' must be an array");
    expect_serialization_error(R"({"job_id":1,"args":{}})", "'args' must be an array");
    expect_serialization_error(R"({"job_id":1,"args":7})", "'args' must be an array");
    expect_serialization_error(R"({"job_id":1,"args":[],"warmup":"yes"})", "warmup");
    expect_serialization_error(R"({"job_id":1,"args":[],"metadata":[1]})", "metadata");
    expect_serialization_error(R"({"job_id":1,"args":[],"metadata":{"k":[300]}})", "metadata.k");
    expect_serialization_error(R"([1,2])", "expected a JSON object");
    expect_serialization_error(R"("text")", "expected a JSON object");
    expect_serialization_error(R"(42)", "expected a JSON object");
    expect_serialization_error(R"(null)", "expected a JSON object");
}

TEST(WireRequest, RejectsMalformedAndTruncatedJson) {
    const std::string good = R"({"job_id":7,"args":[112,97,121],"metadata":{"k":[1]}})";
    // Every strict prefix is incomplete.
    for (std::size_t n = 0; n < good.size(); ++n) {
        auto r = wire::decode_request_json(std::string_view(good).substr(0, n));
        EXPECT_FALSE(r.has_value()) << "accepted prefix of length " << n;
        if (!r) {
            EXPECT_EQ(r.error().kind, faas_errc::serialization);
        }
    }
    expect_serialization_error("", "empty input");
    expect_serialization_error("   ", "empty input");
    expect_serialization_error(R"({"job_id":7,"args":[1,]})", "malformed JSON");
    expect_serialization_error(R"({"job_id":7 "args":[1]})", "malformed JSON");
    expect_serialization_error(R"({job_id:7,args:[1]})", "malformed JSON");
    expect_serialization_error(R"({"job_id":7,"args":[1]}})", "trailing data");
    expect_serialization_error(R"({"job_id":7,"args":[1]} {})", "trailing data");
    expect_serialization_error("{\"job_id\":7,\"args\":[1],\"x\":\"\xff\"}", "malformed JSON");  // invalid UTF-8
}

TEST(WireRequest, MetadataRoundTripsIncludingSensitiveValues) {
    Metadata md;
    md.insert("X-TANGLE-CALL-ID", MetadataValue::from_u64(9));
    md.insert("secret", MetadataValue(std::string_view("hunter2"), true));
    md.insert("quote\"key", MetadataValue(std::string_view("v")));
    JobCall call(3, Bytes{1, 2}, md);
    const auto json = wire::encode_request_json(call);
    EXPECT_EQ(json, R"({"job_id":3,"args":[1,2],"metadata":{"X-TANGLE-CALL-ID":[0,0,0,0,0,0,0,9],)"
                    R"("quote\"key":[118],"secret":{"value":[104,117,110,116,101,114,50],"sensitive":true}}})");
    auto r = wire::decode_request_json(json);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->metadata, md);
    ASSERT_NE(r->metadata.get("secret"), nullptr);
    EXPECT_TRUE(r->metadata.get("secret")->is_sensitive());
}

TEST(WireRequest, WarmupEvent) {
    EXPECT_EQ(wire::encode_warmup_json(JobId(7)), R"({"warmup":true,"job_id":7,"args":[]})");
    auto r = wire::decode_request_json(wire::encode_warmup_json(JobId(7)));
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->warmup);
    EXPECT_EQ(r->job_id, JobId(7));
    // A warm-up needs no args or id.
    auto bare = wire::decode_request_json(R"({"warmup":true})");
    ASSERT_TRUE(bare) << bare.error().to_string();
    EXPECT_TRUE(bare->warmup);
    auto big = wire::decode_request_json(wire::encode_warmup_json(big_id()));
    ASSERT_TRUE(big);
    EXPECT_EQ(big->job_id, big_id());
}

TEST(WireRequest, RoundTripsRandomPayloads) {
    std::mt19937_64 rng(12345);
    for (int i = 0; i < 50; ++i) {
        Bytes body(rng() % 2000);
        for (auto& b : body) b = static_cast<std::uint8_t>(rng());
        const JobId id(static_cast<std::uint64_t>(rng()));
        auto r = wire::decode_request_json(wire::encode_request_json(JobCall(id, body)));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->job_id, id);
        EXPECT_EQ(r->args, body);
    }
}

TEST(WireRequest, MultiMegabytePayloadRoundTrips) {
    Bytes body(8 * 1024 * 1024);
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<std::uint8_t>(i * 7 + (i >> 8));
    const auto json = wire::encode_request_json(JobCall(1, body));
    auto r = wire::decode_request_json(json);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->args, body);
}

// ---- the fast byte-array scanner (src/faas/wire.cpp) ----------------------------
//
// The fast path reads `[n,n,...]` by hand and hands anything else to the
// general SAX reader. These pin down that both agree: on what is accepted,
// and on the exact error message (field and element index) for what is not.

TEST(WireFastScanner, AcceptsWhitespaceEverywhereJsonDoes) {
    for (const char* json : {"{\"job_id\":1,\"args\":[ 1 ,2\t,\n3\r, 255 ]}", "{\"job_id\":1,\"args\":[1,2,3,255]}",
                             "{\"job_id\":1,\"args\":[\n1,\n2,\n3,\n255\n]}", " {\"args\": [1,2,3,255] , \"job_id\" : 1 } "}) {
        auto r = wire::decode_request_json(json);
        ASSERT_TRUE(r) << json << ": " << r.error().to_string();
        EXPECT_EQ(r->args, (Bytes{1, 2, 3, 255})) << json;
    }
}

TEST(WireFastScanner, EmptyAndBoundaryArrays) {
    for (const char* json : {R"({"job_id":1,"args":[]})", "{\"job_id\":1,\"args\":[ \n ]}"}) {
        auto r = wire::decode_request_json(json);
        ASSERT_TRUE(r) << json;
        EXPECT_TRUE(r->args.empty());
    }
    auto r = wire::decode_request_json(R"({"job_id":1,"args":[0,9,10,99,100,199,200,249,250,255]})");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->args, (Bytes{0, 9, 10, 99, 100, 199, 200, 249, 250, 255}));
    // Every byte value at every 64-character block boundary of the dense form.
    for (std::size_t n : {1u, 15u, 16u, 17u, 63u, 64u, 65u, 200u, 1000u}) {
        Bytes body(n);
        for (std::size_t i = 0; i < n; ++i) body[i] = static_cast<std::uint8_t>((i * 37 + n) & 0xff);
        auto rt = wire::decode_request_json(wire::encode_request_json(JobCall(1, body)));
        ASSERT_TRUE(rt) << n;
        EXPECT_EQ(rt->args, body) << n;
    }
    // The array at the very end of the input (no closing brace): malformed,
    // and the scanner must not read past the end.
    const std::string cut = R"({"job_id":1,"args":[1,2])";
    EXPECT_FALSE(wire::decode_request_json(std::string_view(cut)));
}

TEST(WireFastScanner, RejectsWhatJsonOrTheFieldForbidsWithTheSameMessages) {
    struct Row {
        const char* args;
        const char* message;  // the whole error message
    };
    const Row rows[] = {
        // JSON has no leading zeros: a syntax error, not the number 7.
        {"[1,007]", "request: malformed JSON: syntax error"},
        {"[00]", "request: malformed JSON: syntax error"},
        {"[-1]", "request: field 'args' element 0 must be an integer 0-255: out of range (-1)"},
        {"[1,2,256]", "request: field 'args' element 2 must be an integer 0-255: out of range (256)"},
        {"[1000]", "request: field 'args' element 0 must be an integer 0-255: out of range (1000)"},
        {"[1,1.0]", "request: field 'args' element 1 must be an integer 0-255: not an integer"},
        {"[1e2]", "request: field 'args' element 0 must be an integer 0-255: not an integer"},
        {"[1E0]", "request: field 'args' element 0 must be an integer 0-255: not an integer"},
        {"[1,[2]]", "request: field 'args' element 1 must be an integer 0-255: an array"},
        {"[\"1\"]", "request: field 'args' element 0 must be an integer 0-255: a string"},
        {"[1,,2]", "request: malformed JSON: syntax error"},
        {"[1,]", "request: malformed JSON: syntax error"},
        {"[,1]", "request: malformed JSON: syntax error"},
        {"[1 2]", "request: malformed JSON: syntax error"},
        {"[+1]", "request: malformed JSON: syntax error"},
    };
    for (const auto& row : rows) {
        const std::string json = std::string(R"({"job_id":1,"args":)") + row.args + "}";
        auto r = wire::decode_request_json(json);
        ASSERT_FALSE(r) << json;
        EXPECT_EQ(r.error().kind, faas_errc::serialization);
        EXPECT_EQ(r.error().message, row.message) << json;
        // The same in a reply.
        const std::string reply = std::string(R"({"result":)") + row.args + "}";
        auto rr = wire::decode_reply_json(reply);
        ASSERT_FALSE(rr) << reply;
        std::string expected = row.message;
        expected.replace(0, std::string_view("request").size(), "reply");
        if (auto at = expected.find("'args'"); at != std::string::npos) expected.replace(at, 6, "'result'");
        EXPECT_EQ(rr.error().message, expected) << reply;
    }
    // "-0" is a JSON integer equal to 0: accepted, as the SAX reader always did.
    auto minus_zero = wire::decode_request_json(R"({"job_id":1,"args":[-0]})");
    ASSERT_TRUE(minus_zero);
    EXPECT_EQ(minus_zero->args, (Bytes{0}));
}

TEST(WireFastScanner, TruncatedArraysAreIncomplete) {
    const std::string good = R"({"job_id":1,"args":[12,200,7,0,255]})";
    const auto open = good.find('[');
    for (std::size_t n = open; n < good.size(); ++n) {
        auto r = wire::decode_request_json(std::string_view(good).substr(0, n));
        ASSERT_FALSE(r) << n;
        EXPECT_EQ(r.error().message.rfind("request: malformed JSON", 0), 0u) << r.error().message;
    }
}

TEST(WireFastScanner, OtherFieldsStillDecodeAroundTheFastPath) {
    // Escaped and non-ASCII keys, string results, and deep unknown values
    // take the general path; the outcome is the same.
    auto esc = wire::decode_request_json(R"({"job\u005fid":4,"args":[1],"\u00e9":1})");
    ASSERT_TRUE(esc) << esc.error().to_string();
    EXPECT_EQ(esc->job_id, JobId(4));
    auto big = wire::decode_request_json(R"({"job_id":18446744073709551615,"args":[1]})");
    ASSERT_TRUE(big);
    EXPECT_EQ(big->job_id, JobId(std::uint64_t{18446744073709551615ULL}));
    auto zero = wire::decode_request_json(R"({"job_id":0,"args":[1],"x":0,"y":-5,"z":1.5e3,"w":"s\""})");
    ASSERT_TRUE(zero);
    EXPECT_EQ(zero->job_id, JobId(0));
    auto reply = wire::decode_reply_json(R"({"result":[1,2],"execution_ms":1.25,"memory_used_mb":64,"cold_start":true})");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->result, (Bytes{1, 2}));
    EXPECT_EQ(reply->execution_ms, 1.25);
    EXPECT_EQ(reply->memory_used_mb, 64u);
    EXPECT_EQ(reply->cold_start, true);
    // Last duplicate wins for the byte field too.
    auto dup = wire::decode_request_json(R"({"job_id":1,"args":[1,2,3],"args":[9]})");
    ASSERT_TRUE(dup);
    EXPECT_EQ(dup->args, (Bytes{9}));
}

TEST(WireFastScanner, NestingLimitMatchesTheGeneralParser) {
    // Boost.JSON's default depth limit (32) counts the top-level object, so
    // an unknown field may nest 31 levels: the general reader's line, which
    // the fast path (a separate parser per value) must keep.
    auto doc = [](int depth) {
        return R"({"job_id":1,"args":[1],"x":)" + std::string(static_cast<std::size_t>(depth), '[') +
               std::string(static_cast<std::size_t>(depth), ']') + "}";
    };
    int accepted = 0;
    for (int depth = 1; depth <= 40; ++depth) {
        const bool ok = wire::decode_request_json(doc(depth)).has_value();
        if (ok) accepted = depth;
        EXPECT_EQ(ok, depth <= 31) << depth;
    }
    EXPECT_EQ(accepted, 31);
}

// ---- replies ------------------------------------------------------------------

TEST(WireReply, EncodesTheOriginalsSerdeForm) {
    wire::Reply ok;
    ok.result = to_bytes("res");
    EXPECT_EQ(wire::encode_reply_json(ok), R"({"result":[114,101,115]})");
    wire::Reply empty;
    EXPECT_EQ(wire::encode_reply_json(empty), R"({"result":[]})");
}

TEST(WireReply, EncodesFailures) {
    wire::Reply r;
    r.success = false;
    r.error = "bad \"input\"\n";
    r.error_type = "InvalidInput";
    EXPECT_EQ(wire::encode_reply_json(r),
              R"({"success":false,"error":"bad \"input\"\n","error_type":"InvalidInput","result":[]})");
    r.error_type.clear();
    EXPECT_EQ(wire::encode_reply_json(r), R"({"success":false,"error":"bad \"input\"\n","result":[]})");
}

TEST(WireReply, EncodesOptionalExtras) {
    wire::Reply r;
    r.result = Bytes{1};
    r.execution_ms = 1.5;
    r.memory_used_mb = 12;
    r.cold_start = true;
    EXPECT_EQ(wire::encode_reply_json(r), R"({"result":[1],"execution_ms":1.5,"memory_used_mb":12,"cold_start":true})");
}

TEST(WireReply, ErrorMessagesWithInvalidUtf8StillEncodeToValidJson) {
    wire::Reply r;
    r.success = false;
    r.error = std::string("bad \xff\xfe byte, ok \xc3\xa9, ctl \x01");
    const auto json = wire::encode_reply_json(r);
    EXPECT_EQ(json, "{\"success\":false,\"error\":\"bad \\ufffd\\ufffd byte, ok \xc3\xa9, ctl \\u0001\",\"result\":[]}");
    auto back = wire::decode_reply_json(json);
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(back->error, "bad \xef\xbf\xbd\xef\xbf\xbd byte, ok \xc3\xa9, ctl \x01");
}

TEST(WireReply, DecodesTheOriginalsSerdeForm) {
    auto r = wire::decode_reply_json(R"({"result":[114,101,115]})");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->success);
    EXPECT_EQ(r->result, to_bytes("res"));
    EXPECT_FALSE(r->execution_ms);
}

TEST(WireReply, DecodesResultAsString) {
    auto r = wire::decode_reply_json(R"({"result":"h\u00e9llo"})");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->result, to_bytes("h\xc3\xa9llo"));
}

TEST(WireReply, DecodesThePlatformInvokeReplies) {
    auto ok = wire::decode_reply_json(
        R"({"job_id":7,"result":[1,2],"success":true,"execution_ms":12.5,"memory_used_mb":64})");
    ASSERT_TRUE(ok) << ok.error().to_string();
    EXPECT_TRUE(ok->success);
    EXPECT_EQ(ok->result, (Bytes{1, 2}));
    EXPECT_EQ(ok->execution_ms, 12.5);
    EXPECT_EQ(ok->memory_used_mb, 64u);

    auto failed = wire::decode_reply_json(R"({"job_id":7,"result":[],"success":false,"error":"boom"})");
    ASSERT_TRUE(failed);
    EXPECT_FALSE(failed->success);
    EXPECT_EQ(failed->error, "boom");
    EXPECT_TRUE(failed->error_type.empty());

    auto integral_ms = wire::decode_reply_json(R"({"result":[],"success":true,"execution_ms":3})");
    ASSERT_TRUE(integral_ms);
    EXPECT_EQ(integral_ms->execution_ms, 3.0);
}

TEST(WireReply, DecodesStructuredErrors) {
    auto r = wire::decode_reply_json(R"({"success":false,"error":{"message":"no","type":"Overflow"},"result":[]})");
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->success);
    EXPECT_EQ(r->error, "no");
    EXPECT_EQ(r->error_type, "Overflow");

    auto flat = wire::decode_reply_json(R"({"success":false,"error":"no","error_type":"Overflow"})");
    ASSERT_TRUE(flat);
    EXPECT_EQ(flat->error_type, "Overflow");

    // An error without "success" is a failure too; without a message it still says something.
    auto implicit = wire::decode_reply_json(R"({"error":"x"})");
    ASSERT_TRUE(implicit);
    EXPECT_FALSE(implicit->success);
    auto silent = wire::decode_reply_json(R"({"success":false})");
    ASSERT_TRUE(silent);
    EXPECT_FALSE(silent->success);
    EXPECT_FALSE(silent->error.empty());
    // "error":null on success is not a failure.
    auto null_error = wire::decode_reply_json(R"({"result":[1],"error":null,"success":true})");
    ASSERT_TRUE(null_error);
    EXPECT_TRUE(null_error->success);
}

TEST(WireReply, RejectsBadInput) {
    expect_serialization_error(R"({})", "missing field 'result'", false);
    expect_serialization_error(R"({"success":true})", "missing field 'result'", false);
    expect_serialization_error(R"({"result":[256]})", "'result' element 0", false);
    expect_serialization_error(R"({"result":7})", "'result' must be an array", false);
    expect_serialization_error(R"({"result":[],"success":"yes"})", "success", false);
    expect_serialization_error(R"({"result":[],"success":false,"error":5})", "error", false);
    expect_serialization_error(R"({"result":[],"execution_ms":"3"})", "execution_ms", false);
    expect_serialization_error(R"({"result":[],"memory_used_mb":-1})", "memory_used_mb", false);
    expect_serialization_error(R"({"result":[],"memory_used_mb":4294967296})", "memory_used_mb", false);
    expect_serialization_error(R"({"result":[],"cold_start":1})", "cold_start", false);
    expect_serialization_error(R"({"result":[1,2)", "malformed JSON", false);
    expect_serialization_error(R"(<html>502 Bad Gateway</html>)", "malformed JSON", false);
}

TEST(WireReply, RoundTrips) {
    wire::Reply r;
    r.result = Bytes{0, 1, 254, 255};
    r.execution_ms = 0.25;
    r.cold_start = false;
    auto back = wire::decode_reply_json(wire::encode_reply_json(r));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->result, r.result);
    EXPECT_EQ(back->execution_ms, 0.25);
    EXPECT_EQ(back->cold_start, false);

    wire::Reply f;
    f.success = false;
    f.error = "e";
    f.error_type = "T";
    auto fb = wire::decode_reply_json(wire::encode_reply_json(f));
    ASSERT_TRUE(fb);
    EXPECT_FALSE(fb->success);
    EXPECT_EQ(fb->error, "e");
    EXPECT_EQ(fb->error_type, "T");
}

// ---- metadata -----------------------------------------------------------------

TEST(WireMetadata, EncodesAndDecodes) {
    Metadata md;
    md.insert("a", MetadataValue(Bytes{1, 2}));
    md.insert("s", MetadataValue(Bytes{3}, true));
    const auto json = wire::encode_metadata_json(md);
    EXPECT_EQ(json, R"({"a":[1,2],"s":{"value":[3],"sensitive":true}})");
    auto back = wire::decode_metadata_json(json);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, md);
    EXPECT_EQ(wire::encode_metadata_json(Metadata{}), "{}");
}

TEST(WireMetadata, AcceptsStringValuesAndRejectsGarbage) {
    auto s = wire::decode_metadata_json(R"({"k":"text","o":{"value":"v"}})");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->get("k")->as_string_view(), "text");
    EXPECT_FALSE(s->get("o")->is_sensitive());
    EXPECT_FALSE(wire::decode_metadata_json("[1]"));
    EXPECT_FALSE(wire::decode_metadata_json(R"({"k":5})"));
    EXPECT_FALSE(wire::decode_metadata_json(R"({"k":{"sensitive":true}})"));
    EXPECT_FALSE(wire::decode_metadata_json(R"({"k":{"value":[1],"sensitive":"yes"}})"));
    EXPECT_FALSE(wire::decode_metadata_json(R"({"k":[1)"));
}

// ---- conversions --------------------------------------------------------------

TEST(WireConversions, ReplyToJobResult) {
    wire::Reply ok;
    ok.result = Bytes{4};
    auto r = wire::reply_to_job_result(ok);
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(r.body(), (Bytes{4}));

    wire::Reply failed;
    failed.success = false;
    failed.error = "boom";
    failed.error_type = "Overflow";
    auto e = wire::reply_to_job_result(failed);
    ASSERT_TRUE(e.is_error());
    EXPECT_EQ(e.error().code, make_error_code(faas_errc::function_error));
    EXPECT_EQ(e.error().message, "boom");
    EXPECT_EQ(e.error().type, "Overflow");
}

TEST(WireConversions, JobResultToReply) {
    auto ok = wire::job_result_to_reply(JobResult::ok(Bytes{9}));
    EXPECT_TRUE(ok.success);
    EXPECT_EQ(ok.result, (Bytes{9}));

    auto typed = wire::job_result_to_reply(
        JobResult::error(make_error_code(blueprint::job_errc::handler_failed), "nope", "Custom"));
    EXPECT_FALSE(typed.success);
    EXPECT_EQ(typed.error, "nope");
    EXPECT_EQ(typed.error_type, "Custom");

    auto untyped = wire::job_result_to_reply(JobResult::error(make_error_code(blueprint::job_errc::handler_failed), ""));
    EXPECT_FALSE(untyped.success);
    EXPECT_FALSE(untyped.error.empty());  // falls back to the code's message
    EXPECT_EQ(untyped.error_type, "HandlerError");
}

// ---- base64 -------------------------------------------------------------------

TEST(WireBase64, Rfc4648Vectors) {
    const std::pair<std::string_view, std::string_view> vectors[] = {
        {"", ""},          {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (auto [plain, encoded] : vectors) {
        EXPECT_EQ(wire::base64_encode(plain), encoded);
        auto d = wire::base64_decode(encoded);
        ASSERT_TRUE(d) << encoded;
        EXPECT_EQ(*d, plain);
    }
    EXPECT_EQ(wire::base64_encode(std::string_view("\xff\xfe\x00", 3)), "//4A");
}

TEST(WireBase64, RoundTripsAllByteValues) {
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    for (std::size_t n = 0; n <= all.size(); n += 37) {
        auto d = wire::base64_decode(wire::base64_encode(all.substr(0, n)));
        ASSERT_TRUE(d);
        EXPECT_EQ(*d, all.substr(0, n));
    }
}

TEST(WireBase64, RejectsBadInput) {
    for (std::string_view bad : {"Zg=", "Zg", "Z===", "====", "Zm9v!", "Zm 9v", "Zm9v\n", "Zg==Zg==", "Z=g=", "Zh==", "Zm9=",
                                 "Zm-v", "Zm_v"}) {
        auto d = wire::base64_decode(bad);
        EXPECT_FALSE(d.has_value()) << "accepted '" << bad << "'";
        if (!d) {
            EXPECT_EQ(d.error().kind, faas_errc::serialization);
        }
    }
}

// ---- the HTTP mode's protocol mapping ----------------------------------------

namespace fn = blueprint::function::detail;

TEST(FunctionProtocol, Routes) {
    EXPECT_EQ(fn::classify_route("POST", "/").kind, fn::RouteKind::job);
    EXPECT_EQ(fn::classify_route("POST", "/?x=1").kind, fn::RouteKind::job);
    EXPECT_EQ(fn::classify_route("GET", "/health").kind, fn::RouteKind::health);
    EXPECT_EQ(fn::classify_route("POST", "/api/functions/blueprint-job-7/invoke").kind, fn::RouteKind::platform_invoke);

    auto job = fn::classify_route("POST", "/job/0x1f");
    EXPECT_EQ(job.kind, fn::RouteKind::job);
    EXPECT_EQ(job.path_job_id, JobId(31));
    EXPECT_EQ(fn::classify_route("POST", "/job/12").path_job_id, JobId(12));
    EXPECT_EQ(fn::classify_route("POST", "/job/abc").kind, fn::RouteKind::bad_request);
    EXPECT_EQ(fn::classify_route("POST", "/job/99999999999999999999").kind, fn::RouteKind::bad_request);

    for (auto target : {"/robots.txt", "/favicon.ico", "/job/", "/job/1/2", "/api/functions//invoke", "/api/functions/a/b/invoke",
                        "/healthz", "http://x/"})
        EXPECT_EQ(fn::classify_route("POST", target).kind, fn::RouteKind::not_found) << target;
    EXPECT_EQ(fn::classify_route("GET", "/robots.txt").kind, fn::RouteKind::not_found);

    auto wrong = fn::classify_route("GET", "/");
    EXPECT_EQ(wrong.kind, fn::RouteKind::method_not_allowed);
    EXPECT_EQ(wrong.allow, "POST");
    EXPECT_EQ(fn::classify_route("POST", "/health").allow, "GET");
    EXPECT_EQ(fn::classify_route("DELETE", "/job/1").kind, fn::RouteKind::method_not_allowed);
}

TEST(FunctionProtocol, BodyFormat) {
    EXPECT_EQ(fn::body_format("application/json"), fn::BodyFormat::json);
    EXPECT_EQ(fn::body_format(""), fn::BodyFormat::json);
    EXPECT_EQ(fn::body_format("application/x-www-form-urlencoded"), fn::BodyFormat::json);
    EXPECT_EQ(fn::body_format(wire::binary_content_type), fn::BodyFormat::binary);
    EXPECT_EQ(fn::body_format("Application/Vnd.Blueprint.Job+Octet-Stream; charset=binary"), fn::BodyFormat::binary);
}

TEST(FunctionProtocol, PathIdWinsOverBodyId) {
    auto route = fn::classify_route("POST", "/job/5");
    auto parsed = fn::parse_job_request(route, {}, to_bytes(R"({"job_id":9,"args":[1]})"));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->call.job_id(), JobId(5));
    EXPECT_EQ(parsed->call.body(), (Bytes{1}));
}

TEST(FunctionProtocol, PathIdFillsAMissingBodyId) {
    auto job5 = fn::classify_route("POST", "/job/5");
    for (const char* body : {R"({"args":[1]})", R"({"job_id":null,"args":[1]})", R"( {"args" : [1] , "x":{}} )"}) {
        auto parsed = fn::parse_job_request(job5, {}, to_bytes(body));
        ASSERT_TRUE(parsed) << body << ": " << parsed.error().body;
        EXPECT_EQ(parsed->call.job_id(), JobId(5)) << body;
        EXPECT_EQ(parsed->call.body(), (Bytes{1})) << body;
    }
    // Still 400: not JSON, a wrong-typed or malformed id, or no args.
    for (const char* body : {"not json", R"({"args":[1)", R"({"job_id":"abc","args":[]})", R"({"job_id":true,"args":[]})",
                             R"({"job_id":-1,"args":[]})", R"({"job_id_hex":5,"args":[]})", R"({})", "[]"}) {
        auto parsed = fn::parse_job_request(job5, {}, to_bytes(body));
        ASSERT_FALSE(parsed) << body;
        EXPECT_EQ(parsed.error().status, 400u) << body;
    }
    // The root route has no id to fall back on.
    auto root = fn::parse_job_request(fn::classify_route("POST", "/"), {}, to_bytes(R"({"args":[1]})"));
    ASSERT_FALSE(root);
    EXPECT_NE(root.error().body.find("missing field 'job_id'"), std::string::npos) << root.error().body;

    // The platform route: a {id} that is a job id fills in; the body's id,
    // when present, still decides there (§10); a name that is no id does not.
    auto invoke6 = fn::classify_route("POST", "/api/functions/6/invoke");
    EXPECT_EQ(invoke6.name_job_id, JobId(6));
    auto filled = fn::parse_job_request(invoke6, {}, to_bytes(R"({"args":[]})"));
    ASSERT_TRUE(filled);
    EXPECT_EQ(filled->call.job_id(), JobId(6));
    auto body_wins = fn::parse_job_request(invoke6, {}, to_bytes(R"({"job_id":3,"args":[]})"));
    ASSERT_TRUE(body_wins);
    EXPECT_EQ(body_wins->call.job_id(), JobId(3));
    auto named = fn::classify_route("POST", "/api/functions/blueprint-job-6/invoke");
    EXPECT_FALSE(named.name_job_id);
    EXPECT_FALSE(fn::parse_job_request(named, {}, to_bytes(R"({"args":[]})")));
}

TEST(FunctionProtocol, BinaryRequests) {
    auto root = fn::classify_route("POST", "/");
    Metadata md;
    md.insert("k", MetadataValue(std::string_view("v")));
    const auto md_header = wire::base64_encode(wire::encode_metadata_json(md));
    fn::RequestHeaders h{wire::binary_content_type, "0x10", md_header, ""};
    auto parsed = fn::parse_job_request(root, h, Bytes{1, 2, 3});
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->format, fn::BodyFormat::binary);
    EXPECT_EQ(parsed->call.job_id(), JobId(16));
    EXPECT_EQ(parsed->call.body(), (Bytes{1, 2, 3}));
    EXPECT_EQ(parsed->call.metadata(), md);

    fn::RequestHeaders no_id{wire::binary_content_type, "", "", ""};
    auto missing = fn::parse_job_request(root, no_id, Bytes{});
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().status, 400u);
    EXPECT_NE(missing.error().body.find("bad_request"), std::string::npos);

    fn::RequestHeaders bad_md{wire::binary_content_type, "1", "!!!!", ""};
    EXPECT_FALSE(fn::parse_job_request(root, bad_md, Bytes{}));
    fn::RequestHeaders bad_id{wire::binary_content_type, "x1", "", ""};
    EXPECT_FALSE(fn::parse_job_request(root, bad_id, Bytes{}));
}

TEST(FunctionProtocol, WarmupByHeaderOrBody) {
    auto root = fn::classify_route("POST", "/");
    fn::RequestHeaders header{"", "", "", "1"};
    auto by_header = fn::parse_job_request(root, header, Bytes{});
    ASSERT_TRUE(by_header);
    EXPECT_TRUE(by_header->warmup);
    auto by_body = fn::parse_job_request(root, {}, to_bytes(wire::encode_warmup_json(JobId(3))));
    ASSERT_TRUE(by_body);
    EXPECT_TRUE(by_body->warmup);
    EXPECT_EQ(fn::make_warmup_reply(fn::BodyFormat::json, false).body, R"({"warmed":true,"result":[]})");
}

TEST(FunctionProtocol, MalformedJsonIs400) {
    auto parsed = fn::parse_job_request(fn::classify_route("POST", "/"), {}, to_bytes(R"({"job_id":1,"args":[1,)"));
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().status, 400u);
    EXPECT_EQ(parsed.error().content_type, wire::json_content_type);
    EXPECT_NE(parsed.error().body.find(R"("code":"bad_request")"), std::string::npos);
}

TEST(FunctionProtocol, JobReplies) {
    auto root = fn::classify_route("POST", "/");
    fn::ReplyExtras cold;
    cold.cold_start = true;
    auto ok = fn::make_job_reply(root, fn::BodyFormat::json, JobId(1), JobResult::ok(Bytes{7}), cold);
    EXPECT_EQ(ok.status, 200u);
    EXPECT_EQ(ok.body, R"({"result":[7],"cold_start":true})");
    ASSERT_EQ(ok.headers.size(), 1u);
    EXPECT_EQ(ok.headers[0].first, wire::header_cold_start);

    auto err = JobResult::error(make_error_code(blueprint::job_errc::handler_exception), "boom", "HandlerException");
    auto failed = fn::make_job_reply(root, fn::BodyFormat::json, JobId(1), err, {});
    EXPECT_EQ(failed.status, 200u);  // the Blueprint routes' policy: see protocol.hpp
    EXPECT_EQ(failed.body, R"({"success":false,"error":"boom","error_type":"HandlerException","result":[]})");

    auto bin = fn::make_job_reply(root, fn::BodyFormat::binary, JobId(1), err, {});
    EXPECT_EQ(bin.status, 200u);
    EXPECT_EQ(bin.body, "boom");
    EXPECT_EQ(bin.content_type, wire::binary_content_type);

    auto invoke = fn::classify_route("POST", "/api/functions/f/invoke");
    fn::ReplyExtras extras{.cold_start = false, .execution_ms = 2.5, .memory_used_mb = 10};
    auto pok = fn::make_job_reply(invoke, fn::BodyFormat::json, JobId(7), JobResult::ok(Bytes{1}), extras);
    EXPECT_EQ(pok.status, 200u);
    EXPECT_EQ(pok.body, R"({"job_id":7,"success":true,"result":[1],"execution_ms":2.5,"memory_used_mb":10})");
    auto pfail = fn::make_job_reply(invoke, fn::BodyFormat::json, JobId(7), err, {});
    EXPECT_EQ(pfail.status, 500u);
    EXPECT_EQ(pfail.body, R"({"job_id":7,"success":false,"error":"boom","error_type":"HandlerException","result":[]})");
    // Both decode with the executor's reader.
    auto d1 = wire::decode_reply_json(pok.body);
    ASSERT_TRUE(d1);
    EXPECT_TRUE(d1->success);
    auto d2 = wire::decode_reply_json(pfail.body);
    ASSERT_TRUE(d2);
    EXPECT_FALSE(d2->success);
    EXPECT_EQ(d2->error_type, "HandlerException");
}
