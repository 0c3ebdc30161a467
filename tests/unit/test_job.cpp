// JobId, Metadata, JobResult.
#include <blueprint/job.hpp>

#include <gtest/gtest.h>

#include <limits>
#include <sstream>
#include <unordered_set>
#include <vector>

using namespace blueprint;

namespace {
std::array<std::uint8_t, 32> all_ff() {
    std::array<std::uint8_t, 32> a;
    a.fill(0xff);
    return a;
}
}  // namespace

TEST(JobId, FromIntegersIsBigEndian) {
    JobId id(std::uint64_t{0x0102030405060708ULL});
    const auto& b = id.bytes();
    for (int i = 0; i < 24; ++i) EXPECT_EQ(b[i], 0) << i;
    for (int i = 0; i < 8; ++i) EXPECT_EQ(b[24 + i], i + 1);
    EXPECT_EQ(JobId(7), JobId(std::uint32_t{7}));
    EXPECT_EQ(JobId(7), JobId(std::uint64_t{7}));
    EXPECT_EQ(JobId(), JobId(0));
}

TEST(JobId, NarrowingRoundTrips) {
    EXPECT_EQ(JobId(0).to_u32().value(), 0u);
    EXPECT_EQ(JobId(std::uint32_t{0xffffffff}).to_u32().value(), 0xffffffffu);
    auto max64 = std::numeric_limits<std::uint64_t>::max();
    EXPECT_EQ(JobId(max64).to_u64().value(), max64);
    EXPECT_TRUE(JobId(max64).fits_u64());
}

TEST(JobId, NarrowingRefusesInsteadOfTruncating) {
    JobId big(std::uint64_t{0x1'0000'0000ULL});
    auto r32 = big.to_u32();
    ASSERT_FALSE(r32.has_value());
    EXPECT_EQ(r32.error(), job_id_errc::out_of_range);
    EXPECT_EQ(big.to_u64().value(), 0x1'0000'0000ULL);

    std::array<std::uint8_t, 32> be{};
    be[23] = 1;  // 2^64
    JobId wide = JobId::from_bytes(be);
    EXPECT_FALSE(wide.fits_u64());
    EXPECT_EQ(wide.to_u64().error(), job_id_errc::out_of_range);
    EXPECT_EQ(wide.to_u32().error(), job_id_errc::out_of_range);

    JobId top = JobId::from_bytes([] {
        std::array<std::uint8_t, 32> a{};
        a[0] = 0x80;
        return a;
    }());
    EXPECT_EQ(top.to_u64().error(), job_id_errc::out_of_range);
}

TEST(JobId, HexFormatting) {
    EXPECT_EQ(JobId(0).to_hex(), "0x0");
    EXPECT_EQ(JobId(31).to_hex(), "0x1f");
    EXPECT_EQ(JobId(256).to_hex(), "0x100");
    EXPECT_EQ(JobId::from_bytes(all_ff()).to_hex(), "0x" + std::string(64, 'f'));
}

TEST(JobId, HexRoundTrip) {
    for (std::string hex : std::vector<std::string>{"0x0", "0x1", "0xabc", "0x1000000000000000000000000000000000000000000000000000000000000000",
                            "0xdeadbeefcafebabe0123456789abcdef"}) {
        auto id = JobId::from_hex(hex);
        ASSERT_TRUE(id.has_value()) << hex;
        EXPECT_EQ(id->to_hex(), hex);
        EXPECT_EQ(JobId::from_hex(id->to_hex()).value(), *id);
    }
    auto full = JobId::from_bytes(all_ff());
    EXPECT_EQ(JobId::from_hex(full.to_hex()).value(), full);
}

TEST(JobId, FromHexAcceptsPrefixesCaseAndLeadingZeros) {
    EXPECT_EQ(JobId::from_hex("ff").value(), JobId(255));
    EXPECT_EQ(JobId::from_hex("0XFF").value(), JobId(255));
    EXPECT_EQ(JobId::from_hex("0xFf").value(), JobId(255));
    EXPECT_EQ(JobId::from_hex("000000ff").value(), JobId(255));
    EXPECT_EQ(JobId::from_hex(std::string(64, '0')).value(), JobId(0));
    EXPECT_EQ(JobId::from_hex(std::string(64, 'f')).value(), JobId::from_bytes(all_ff()));
}

TEST(JobId, FromHexRejectsBadInput) {
    for (std::string bad : std::vector<std::string>{"", "0x", "0X", "xyz", "0xg1", "12 3", "-1", "0x-1", " 1",
                            std::string(65, '1'), "0x" + std::string(65, '0')}) {
        auto r = JobId::from_hex(bad);
        ASSERT_FALSE(r.has_value()) << bad;
        EXPECT_EQ(r.error(), job_id_errc::invalid_hex) << bad;
    }
}

TEST(JobId, ParseDecimalAndHex) {
    EXPECT_EQ(JobId::parse("0").value(), JobId(0));
    EXPECT_EQ(JobId::parse("42").value(), JobId(42));
    EXPECT_EQ(JobId::parse("18446744073709551615").value(), JobId(std::numeric_limits<std::uint64_t>::max()));
    EXPECT_EQ(JobId::parse("0x2a").value(), JobId(42));
    EXPECT_EQ(JobId::parse("0x" + std::string(64, 'f')).value(), JobId::from_bytes(all_ff()));
}

TEST(JobId, ParseRejects) {
    EXPECT_EQ(JobId::parse("18446744073709551616").error(), job_id_errc::out_of_range);
    EXPECT_EQ(JobId::parse("").error(), job_id_errc::invalid_hex);
    EXPECT_EQ(JobId::parse("12a").error(), job_id_errc::invalid_hex);
    EXPECT_EQ(JobId::parse("-3").error(), job_id_errc::invalid_hex);
    EXPECT_EQ(JobId::parse("ff").error(), job_id_errc::invalid_hex);  // hex needs 0x here
    EXPECT_EQ(JobId::parse("0xzz").error(), job_id_errc::invalid_hex);
}

TEST(JobId, ToStringIsDecimalWhenItFits) {
    EXPECT_EQ(JobId(7).to_string(), "7");
    EXPECT_EQ(JobId(std::numeric_limits<std::uint64_t>::max()).to_string(), "18446744073709551615");
    std::array<std::uint8_t, 32> be{};
    be[23] = 1;
    EXPECT_EQ(JobId::from_bytes(be).to_string(), "0x10000000000000000");
    std::ostringstream os;
    os << JobId(9) << ' ' << JobId::from_bytes(be);
    EXPECT_EQ(os.str(), "9 0x10000000000000000");
}

TEST(JobId, OrderingFollowsNumericValue) {
    EXPECT_LT(JobId(1), JobId(2));
    EXPECT_LT(JobId(255), JobId(256));
    EXPECT_LT(JobId(std::numeric_limits<std::uint64_t>::max()), JobId::from_hex("0x10000000000000000").value());
    EXPECT_GT(JobId::from_bytes(all_ff()), JobId(0));
}

TEST(JobId, HashDistinguishesIds) {
    std::hash<JobId> h;
    EXPECT_EQ(h(JobId(5)), h(JobId(std::uint64_t{5})));
    std::unordered_set<JobId> set;
    for (std::uint64_t i = 0; i < 1000; ++i) set.insert(JobId(i));
    std::array<std::uint8_t, 32> be{};
    be[0] = 1;  // differs only in the top word
    set.insert(JobId::from_bytes(be));
    EXPECT_EQ(set.size(), 1001u);
    EXPECT_TRUE(set.contains(JobId::from_bytes(be)));
    EXPECT_FALSE(set.contains(JobId(1000)));
    // Only the high word differs: the hash must still see it.
    EXPECT_NE(h(JobId::from_bytes(be)), h(JobId(0)));
}

TEST(Bytes, StringConversions) {
    EXPECT_EQ(to_bytes("ab"), (Bytes{'a', 'b'}));
    EXPECT_EQ(to_string(Bytes{'h', 'i', 0, 'x'}), std::string("hi\0x", 4));
    EXPECT_TRUE(to_bytes("").empty());
}

TEST(MetadataValue, NumbersAreBigEndian) {
    auto v = MetadataValue::from_u64(0x0102030405060708ULL);
    EXPECT_EQ(v.bytes(), (Bytes{1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(v.to_u64().value(), 0x0102030405060708ULL);
    auto w = MetadataValue::from_u32(0xa0b0c0d0u);
    EXPECT_EQ(w.bytes(), (Bytes{0xa0, 0xb0, 0xc0, 0xd0}));
    EXPECT_EQ(w.to_u64().value(), 0xa0b0c0d0u);
    EXPECT_EQ(MetadataValue(Bytes{0x01, 0x00}).to_u64().value(), 256u);
    EXPECT_EQ(MetadataValue::from_u64(std::numeric_limits<std::uint64_t>::max()).to_u64().value(),
              std::numeric_limits<std::uint64_t>::max());
}

TEST(MetadataValue, ToU64RejectsEmptyAndLong) {
    EXPECT_FALSE(MetadataValue(Bytes{}).to_u64().has_value());
    EXPECT_FALSE(MetadataValue(Bytes(9, 0)).to_u64().has_value());
}

TEST(Metadata, GetInsertEraseMerge) {
    Metadata md;
    EXPECT_EQ(md.get("a"), nullptr);
    md.insert("a", MetadataValue("1"));
    md.insert("b", MetadataValue("2"));
    md.insert("a", MetadataValue("3"));
    ASSERT_NE(md.get("a"), nullptr);
    EXPECT_EQ(md.get("a")->as_string_view(), "3");
    EXPECT_EQ(md.size(), 2u);
    EXPECT_TRUE(md.erase("b"));
    EXPECT_FALSE(md.erase("b"));
    EXPECT_FALSE(md.contains("b"));

    Metadata other;
    other.insert("a", MetadataValue("other"));
    other.insert("c", MetadataValue("c"));
    md.merge_from(other);
    EXPECT_EQ(md.get("a")->as_string_view(), "other");
    EXPECT_EQ(md.get("c")->as_string_view(), "c");
    EXPECT_EQ(md.size(), 2u);
}

TEST(Metadata, LogStringRedactsSensitive) {
    Metadata md;
    md.insert("user", MetadataValue("alice"));
    md.insert("token", MetadataValue("s3cr3t", true));
    md.insert("bin", MetadataValue(Bytes{0x00, 0xff}));
    auto s = md.to_log_string();
    EXPECT_EQ(s, "{bin=0x00ff, token=<redacted>, user=alice}");
    EXPECT_EQ(s.find("s3cr3t"), std::string::npos);
    EXPECT_EQ(Metadata{}.to_log_string(), "{}");
}

TEST(JobResult, StampFromCallKeepsResultKeys) {
    Metadata call_md;
    call_md.insert(std::string(metadata_keys::call_id), MetadataValue::from_u64(11));
    call_md.insert("shared", MetadataValue("from-call"));
    JobCall call(JobId(3), to_bytes("x"), call_md);

    Metadata res_md;
    res_md.insert("shared", MetadataValue("from-result"));
    res_md.insert("own", MetadataValue("r"));
    auto result = JobResult::ok(res_md, to_bytes("y"));
    result.stamp_from(call);

    EXPECT_EQ(result.job_id(), JobId(3));
    EXPECT_EQ(result.metadata().get(metadata_keys::call_id)->to_u64().value(), 11u);
    EXPECT_EQ(result.metadata().get("shared")->as_string_view(), "from-result");
    EXPECT_EQ(result.metadata().get("own")->as_string_view(), "r");
    EXPECT_EQ(result.metadata().size(), 3u);
    EXPECT_EQ(to_string(result.body()), "y");
}

TEST(JobResult, StampFromOnErrorResult) {
    Metadata call_md;
    call_md.insert("k", MetadataValue("v"));
    JobCall call(JobId(9), {}, call_md);
    auto result = JobResult::error(job_errc::handler_failed, "boom");
    result.stamp_from(call);
    EXPECT_TRUE(result.is_error());
    EXPECT_EQ(result.error().code, job_errc::handler_failed);
    EXPECT_EQ(result.job_id(), JobId(9));
    EXPECT_EQ(result.metadata(), call_md);
}

TEST(Errors, CategoriesAndMessages) {
    error_code ec = job_errc::cancelled;
    EXPECT_STREQ(ec.category().name(), "blueprint.job");
    EXPECT_NE(ec.message().find("cancelled"), std::string::npos);
    EXPECT_STREQ(error_code(job_id_errc::invalid_hex).category().name(), "blueprint.job_id");
    EXPECT_STREQ(error_code(runner_errc::no_router).category().name(), "blueprint.runner");
    for (int v = 1; v <= 5; ++v) {
        EXPECT_NE(error_code(v, job_category()).message(), "unknown job error");
        EXPECT_NE(error_code(v, runner_category()).message(), "unknown runner error");
    }
    EXPECT_EQ(error_code(99, job_category()).message(), "unknown job error");
    Error e{job_errc::handler_exception, "what() text"};
    EXPECT_EQ(e.to_string(), "blueprint.job: the job handler threw an exception: what() text");
    EXPECT_EQ((Error{job_errc::no_route, ""}).to_string(), "blueprint.job: no handler is routed for this job id");
}

TEST(JobResult, DefaultIsEmptyOk) {
    JobResult r;
    EXPECT_TRUE(r.is_ok());
    EXPECT_TRUE(r.body().empty());
    EXPECT_EQ(r.job_id(), JobId(0));
    EXPECT_TRUE(r.metadata().empty());
}
