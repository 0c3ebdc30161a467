// Packaging: deterministic zips per provider, refusals, safe reading and
// extraction, and that other zip tools (python3 zipfile, unzip) accept them.
#include <blueprint/faas/packaging.hpp>

#include "faas/packaging/zip.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
namespace pkg = blueprint::faas::packaging;
using blueprint::Bytes;
using blueprint::JobId;
using pkg::packaging_errc;

class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "bp-packaging-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }
    fs::path operator/(std::string_view name) const { return path_ / name; }

private:
    fs::path path_;
};

Bytes random_bytes(std::size_t n, unsigned seed = 42) {
    std::mt19937 gen(seed);
    Bytes b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(gen());
    return b;
}

void write_file(const fs::path& p, const Bytes& bytes, fs::perms perms) {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
    fs::permissions(p, perms);
}

Bytes read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

std::string text(const Bytes& b) { return std::string(b.begin(), b.end()); }
std::span<const std::uint8_t> bytes_of(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

constexpr auto kExec = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                       fs::perms::others_read | fs::perms::others_exec;
constexpr auto kNoExec = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read;

std::map<std::string, pkg::ZipEntry> entries_by_name(const Bytes& zip) {
    auto entries = pkg::read_zip_entries(zip);
    EXPECT_TRUE(entries.has_value()) << (entries ? "" : entries.error().to_string());
    std::map<std::string, pkg::ZipEntry> out;
    if (entries)
        for (auto& e : *entries) out.emplace(e.name, std::move(e));
    return out;
}

std::vector<std::string> names_in_order(const Bytes& zip) {
    std::vector<std::string> out;
    auto entries = pkg::read_zip_entries(zip);
    if (entries)
        for (auto& e : *entries) out.push_back(e.name);
    return out;
}

/// Runs a shell command, returning its exit status and stdout.
std::pair<int, std::string> run(const std::string& command) {
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    if (!p) return {-1, {}};
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    int status = ::pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// --- providers and errors -------------------------------------------------

TEST(Packaging, ProviderNamesRoundTrip) {
    for (auto p : {pkg::Provider::aws, pkg::Provider::gcp, pkg::Provider::azure, pkg::Provider::custom})
        EXPECT_EQ(pkg::parse_provider(pkg::to_string(p)), p);
    EXPECT_EQ(pkg::parse_provider("AWS"), pkg::Provider::aws);
    EXPECT_EQ(pkg::parse_provider("Azure"), pkg::Provider::azure);
    EXPECT_FALSE(pkg::parse_provider("lambda"));
    EXPECT_FALSE(pkg::parse_provider(""));
    EXPECT_FALSE(pkg::parse_provider("aws "));
}

TEST(Packaging, ErrorCategory) {
    blueprint::error_code ec = packaging_errc::too_large;
    EXPECT_STREQ(ec.category().name(), "blueprint.packaging");
    EXPECT_NE(ec.message().find("limit"), std::string::npos);
    EXPECT_EQ(pkg::packaging_category().message(999), "unknown packaging error");
}

TEST(Packaging, DefaultLimitsFollowTheProviders) {
    EXPECT_EQ(pkg::default_limits(pkg::Provider::aws).max_zip_bytes, 50ull * 1024 * 1024);
    EXPECT_EQ(pkg::default_limits(pkg::Provider::aws).max_unzipped_bytes, 250ull * 1024 * 1024);
    EXPECT_EQ(pkg::default_limits(pkg::Provider::custom).max_zip_bytes, 250ull * 1024 * 1024);
}

// --- Lambda and custom ------------------------------------------------------

TEST(Packaging, LambdaHoldsExecutableBootstrap) {
    auto binary = random_bytes(10'000);
    auto zip = pkg::package_lambda(std::span<const std::uint8_t>(binary));
    ASSERT_TRUE(zip) << zip.error().to_string();
    auto entries = pkg::read_zip_entries(*zip);
    ASSERT_TRUE(entries) << entries.error().to_string();
    ASSERT_EQ(entries->size(), 1u);
    EXPECT_EQ((*entries)[0].name, "bootstrap");
    EXPECT_EQ((*entries)[0].mode, 0100755u);
    EXPECT_EQ((*entries)[0].bytes, binary);
}

TEST(Packaging, CustomHoldsExecutableBootstrap) {
    auto binary = blueprint::to_bytes("#!/bin/sh\necho hi\n");
    auto zip = pkg::package_custom(std::span<const std::uint8_t>(binary));
    ASSERT_TRUE(zip) << zip.error().to_string();
    EXPECT_EQ(names_in_order(*zip), std::vector<std::string>{"bootstrap"});
    auto e = entries_by_name(*zip);
    EXPECT_EQ(e["bootstrap"].mode, 0100755u);
    EXPECT_EQ(e["bootstrap"].bytes, binary);
}

TEST(Packaging, EntriesUseDeflateAndTheFixedDosTimestamp) {
    Bytes binary(100'000, 'a');  // compressible, so deflate shows in the size too
    auto zip = pkg::package_lambda(std::span<const std::uint8_t>(binary));
    ASSERT_TRUE(zip);
    ASSERT_GE(zip->size(), 30u);
    // Local file header: signature, then method at 8, DOS time at 10, date at 12.
    auto u16 = [&](std::size_t off) { return (*zip)[off] | ((*zip)[off + 1] << 8); };
    EXPECT_EQ(u16(0), 0x4b50);
    EXPECT_EQ(u16(8), 8) << "compression method is deflate";
    EXPECT_EQ(u16(10), 0) << "00:00:00";
    EXPECT_EQ(u16(12), (0 << 9) | (1 << 5) | 1) << "1980-01-01";
    EXPECT_LT(zip->size(), 10'000u);
}

TEST(Packaging, SameBinaryGivesIdenticalBytes) {
    TempDir dir;
    auto path = dir / "fn";
    write_file(path, random_bytes(50'000), kExec);
    auto a = pkg::package_lambda(path);
    ASSERT_TRUE(a) << a.error().to_string();
    auto b = pkg::package_lambda(path);
    ASSERT_TRUE(b);
    EXPECT_EQ(*a, *b);

    // Another mtime, another name, another directory: still the same bytes.
    fs::last_write_time(path, fs::file_time_type::clock::now() - std::chrono::hours(24 * 400));
    auto c = pkg::package_lambda(path);
    ASSERT_TRUE(c);
    EXPECT_EQ(*a, *c);
    auto copy = dir / "other-name";
    fs::copy_file(path, copy);
    fs::permissions(copy, kExec);
    auto d = pkg::package_lambda(copy);
    ASSERT_TRUE(d);
    EXPECT_EQ(*a, *d);

    // And from bytes.
    auto e = pkg::package_lambda(std::span<const std::uint8_t>(read_file(path)));
    ASSERT_TRUE(e);
    EXPECT_EQ(*a, *e);
}

TEST(Packaging, BytesDoNotDependOnTheTimeZone) {
    auto binary = random_bytes(1000, 7);
    const char* old = std::getenv("TZ");
    std::string saved = old ? old : "";
    std::vector<Bytes> zips;
    for (const char* tz : {"UTC", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Kiritimati"}) {
        ::setenv("TZ", tz, 1);
        ::tzset();
        auto zip = pkg::package_gcp(std::span<const std::uint8_t>(binary));
        ASSERT_TRUE(zip);
        zips.push_back(*zip);
    }
    if (old)
        ::setenv("TZ", saved.c_str(), 1);
    else
        ::unsetenv("TZ");
    ::tzset();
    for (const auto& z : zips) EXPECT_EQ(z, zips.front());
}

TEST(Packaging, RefusesMissingBinary) {
    TempDir dir;
    auto r = pkg::package_lambda(dir / "nope");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, packaging_errc::binary_missing);
    EXPECT_NE(r.error().message.find("nope"), std::string::npos);

    auto d = pkg::package_lambda(dir.path());  // a directory is not a binary
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, packaging_errc::binary_missing);
}

TEST(Packaging, RefusesNonExecutableAndEmptyBinary) {
    TempDir dir;
    write_file(dir / "plain", random_bytes(100), kNoExec);
    auto r = pkg::package_lambda(dir / "plain");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, packaging_errc::not_executable);
    EXPECT_NE(r.error().message.find("chmod +x"), std::string::npos);

    write_file(dir / "empty", {}, kExec);
    auto e = pkg::package_custom(dir / "empty");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code, packaging_errc::not_executable);

    auto b = pkg::package_lambda(std::span<const std::uint8_t>{});
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code, packaging_errc::not_executable);
}

TEST(Packaging, RefusesBinaryOverLambdaUnzippedLimitWithoutReadingIt) {
    TempDir dir;
    auto path = dir / "huge";
    {
        std::ofstream(path).put('x');
    }
    // Sparse: 251 MB of apparent size, no disk used; the size is checked
    // before reading, so this is instant.
    fs::resize_file(path, 251ull * 1024 * 1024);
    fs::permissions(path, kExec);
    auto r = pkg::package_lambda(path);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, packaging_errc::too_large);
    EXPECT_NE(r.error().message.find("AWS Lambda"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("250 MB"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("unzipped"), std::string::npos) << r.error().message;

    auto generic = pkg::read_binary(path, 1024);
    ASSERT_FALSE(generic);
    EXPECT_EQ(generic.error().code, packaging_errc::too_large);
}

TEST(Packaging, RefusesZipOverTheUploadLimit) {
    // Random bytes don't compress: the zip is bigger than the binary.
    auto binary = random_bytes(8'000);
    pkg::Limits limits = pkg::default_limits(pkg::Provider::aws);
    limits.max_zip_bytes = 4'000;
    auto r = pkg::package_lambda(std::span<const std::uint8_t>(binary), limits);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, packaging_errc::too_large);
    EXPECT_NE(r.error().message.find("direct-upload zip limit"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("4000 bytes"), std::string::npos) << r.error().message;

    limits.max_zip_bytes = 9'000;
    EXPECT_TRUE(pkg::package_lambda(std::span<const std::uint8_t>(binary), limits));
}

TEST(Packaging, UnzippedLimitCountsEveryEntry) {
    auto binary = random_bytes(1'000);
    pkg::Limits limits{.max_zip_bytes = 1 << 20, .max_unzipped_bytes = 1'000};
    EXPECT_TRUE(pkg::package_lambda(std::span<const std::uint8_t>(binary), limits));
    // The GCP package adds package.json and index.js to the binary's 1000 bytes.
    auto gcp = pkg::package_gcp(std::span<const std::uint8_t>(binary), limits);
    ASSERT_FALSE(gcp);
    EXPECT_EQ(gcp.error().code, packaging_errc::too_large);
    EXPECT_NE(gcp.error().message.find("Google Cloud Functions"), std::string::npos);
}

// --- GCP ------------------------------------------------------------------

TEST(Packaging, GcpHoldsPackageJsonShimAndBootstrap) {
    auto binary = random_bytes(3'000);
    auto zip = pkg::package_gcp(std::span<const std::uint8_t>(binary));
    ASSERT_TRUE(zip) << zip.error().to_string();
    EXPECT_EQ(names_in_order(*zip), (std::vector<std::string>{"package.json", "index.js", "bootstrap"}));
    auto e = entries_by_name(*zip);
    EXPECT_EQ(e["bootstrap"].mode, 0100755u);
    EXPECT_EQ(e["bootstrap"].bytes, binary);
    EXPECT_EQ(e["package.json"].mode, 0100644u);
    EXPECT_EQ(e["index.js"].mode, 0100644u);

    auto pj = boost::json::parse(text(e["package.json"].bytes)).as_object();
    EXPECT_EQ(pj.at("main").as_string(), "index.js");
    EXPECT_FALSE(pj.at("name").as_string().empty());
    EXPECT_FALSE(pj.at("version").as_string().empty());
    EXPECT_EQ(pj.at("engines").at("node").as_string(), ">=20");
    auto& deps = pj.at("dependencies").as_object();
    EXPECT_EQ(deps.size(), 1u) << "only the Functions Framework";
    EXPECT_EQ(deps.at("@google-cloud/functions-framework").as_string(), pkg::kFunctionsFrameworkRange);

    // index.js is gcp_shim.js, byte for byte (embedded at build time).
    auto shim_path = fs::path(__FILE__).parent_path().parent_path().parent_path() / "src/faas/packaging/gcp_shim.js";
    ASSERT_TRUE(fs::exists(shim_path)) << shim_path;
    EXPECT_EQ(e["index.js"].bytes, read_file(shim_path));
    auto js = text(e["index.js"].bytes);
    EXPECT_NE(js.find("functions.http('blueprint'"), std::string::npos);
    EXPECT_NE(js.find("bootstrap_exited"), std::string::npos);
    EXPECT_NE(js.find("x-blueprint-cold-start"), std::string::npos);
}

// --- Azure ----------------------------------------------------------------

TEST(Packaging, AzureHasHostJsonAndOneFolderPerJob) {
    std::array<std::uint8_t, 32> max_id;
    max_id.fill(0xff);
    std::array<std::uint8_t, 32> wide{};
    wide[23] = 1;  // 2^64: one past u64
    const std::vector<JobId> jobs = {JobId(7), JobId(0), JobId::from_bytes(max_id), JobId::from_bytes(wide)};
    auto binary = random_bytes(2'000);
    auto zip = pkg::package_azure(std::span<const std::uint8_t>(binary), jobs);
    ASSERT_TRUE(zip) << zip.error().to_string();

    const std::string max_name = "job0x" + std::string(64, 'f');
    EXPECT_EQ(names_in_order(*zip),
              (std::vector<std::string>{"host.json", "job0/function.json", "job7/function.json",
                                        "job0x10000000000000000/function.json", max_name + "/function.json",
                                        "bootstrap"}));
    EXPECT_EQ(pkg::azure_function_name(JobId::from_bytes(max_id)), max_name) << "never truncated";

    auto e = entries_by_name(*zip);
    EXPECT_EQ(e["bootstrap"].mode, 0100755u);
    EXPECT_EQ(e["bootstrap"].bytes, binary);

    auto host = boost::json::parse(text(e["host.json"].bytes)).as_object();
    EXPECT_EQ(host.at("version").as_string(), "2.0");
    auto& handler = host.at("customHandler").as_object();
    EXPECT_EQ(handler.at("description").at("defaultExecutablePath").as_string(), "bootstrap");
    EXPECT_EQ(handler.at("description").at("workingDirectory").as_string(), "");
    EXPECT_TRUE(handler.at("description").at("arguments").as_array().empty());
    EXPECT_TRUE(handler.at("enableForwardingHttpRequest").as_bool());
    EXPECT_FALSE(host.contains("extensionBundle")) << "HTTP-only custom handlers need no bundle";

    auto fn = boost::json::parse(text(e["job7/function.json"].bytes));
    auto& bindings = fn.at("bindings").as_array();
    ASSERT_EQ(bindings.size(), 2u);
    EXPECT_EQ(bindings[0].at("type").as_string(), "httpTrigger");
    EXPECT_EQ(bindings[0].at("direction").as_string(), "in");
    EXPECT_EQ(bindings[0].at("name").as_string(), "req");
    EXPECT_EQ(bindings[0].at("authLevel").as_string(), "function");
    EXPECT_EQ(bindings[0].at("methods"), boost::json::array({"post"}));
    EXPECT_EQ(bindings[1].at("type").as_string(), "http");
    EXPECT_EQ(bindings[1].at("direction").as_string(), "out");
    EXPECT_EQ(bindings[1].at("name").as_string(), "res");
}

TEST(Packaging, AzureJobOrderDoesNotChangeTheBytes) {
    auto binary = random_bytes(500);
    const std::vector<JobId> a = {JobId(1), JobId(2), JobId(30)};
    const std::vector<JobId> b = {JobId(30), JobId(1), JobId(2)};
    auto za = pkg::package_azure(std::span<const std::uint8_t>(binary), a);
    auto zb = pkg::package_azure(std::span<const std::uint8_t>(binary), b);
    ASSERT_TRUE(za && zb);
    EXPECT_EQ(*za, *zb);
}

TEST(Packaging, AzureRefusesNoJobsAndDuplicates) {
    auto binary = random_bytes(500);
    auto none = pkg::package_azure(std::span<const std::uint8_t>(binary), {});
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, packaging_errc::invalid_job);

    const std::vector<JobId> dup = {JobId(3), JobId(4), JobId(3)};
    auto d = pkg::package_azure(std::span<const std::uint8_t>(binary), dup);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, packaging_errc::invalid_job);
    EXPECT_NE(d.error().message.find("job 3"), std::string::npos);

    TempDir dir;
    auto viaPath = pkg::package(pkg::Provider::azure, dir / "missing", {});
    ASSERT_FALSE(viaPath);
    EXPECT_EQ(viaPath.error().code, packaging_errc::invalid_job);
}

TEST(Packaging, PackageDispatchesOnProvider) {
    TempDir dir;
    write_file(dir / "fn", random_bytes(300), kExec);
    const std::vector<JobId> jobs = {JobId(5)};
    EXPECT_EQ(names_in_order(*pkg::package(pkg::Provider::aws, dir / "fn")), std::vector<std::string>{"bootstrap"});
    EXPECT_EQ(names_in_order(*pkg::package(pkg::Provider::gcp, dir / "fn")).size(), 3u);
    EXPECT_EQ(names_in_order(*pkg::package(pkg::Provider::azure, dir / "fn", jobs)).size(), 3u);
    auto limited = pkg::package(pkg::Provider::aws, dir / "fn", {}, pkg::Limits{10, 10});
    ASSERT_FALSE(limited);
    EXPECT_EQ(limited.error().code, packaging_errc::too_large);
}

// --- reading untrusted zips -------------------------------------------------

Bytes raw_zip(std::vector<pkg::detail::FileSpec> files) {
    auto zip = pkg::detail::write_zip(files);
    EXPECT_TRUE(zip) << (zip ? "" : zip.error().to_string());
    return zip ? *zip : Bytes{};
}

TEST(Packaging, ReadRejectsZipSlipNames) {
    const std::string_view data = "evil";
    for (const char* name : {"../evil", "a/../../evil", "a/..", "/etc/evil", "C:evil", "c:/evil", "a\\..\\evil",
                             "\\evil"}) {
        auto zip = raw_zip({{name, 0100644, bytes_of(data)}});
        ASSERT_FALSE(zip.empty()) << name;
        auto r = pkg::read_zip_entries(zip);
        ASSERT_FALSE(r) << name;
        EXPECT_EQ(r.error().code, packaging_errc::zip_error) << name;
    }
    // Dots that are not a ".." component are fine.
    for (const char* name : {"a..b", "..a/b", "a/b..", "./x"}) {
        auto r = pkg::read_zip_entries(raw_zip({{name, 0100644, bytes_of(data)}}));
        EXPECT_TRUE(r) << name << ": " << (r ? "" : r.error().to_string());
    }
}

TEST(Packaging, ReadRejectsDuplicateNames) {
    // Write two names of equal length, then rename the second in place: the
    // CRCs cover only the data, so the archive is otherwise valid.
    auto zip = raw_zip({{"aaaa", 0100644, bytes_of("1")}, {"bbbb", 0100644, bytes_of("2")}});
    std::string s(zip.begin(), zip.end());
    for (std::size_t pos; (pos = s.find("bbbb")) != std::string::npos;) s.replace(pos, 4, "aaaa");
    auto r = pkg::read_zip_entries(Bytes(s.begin(), s.end()));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, packaging_errc::zip_error);
    EXPECT_NE(r.error().message.find("duplicate"), std::string::npos) << r.error().message;
}

TEST(Packaging, ReadRejectsCorruptTruncatedAndGarbageInput) {
    auto binary = random_bytes(5'000);
    auto zip = *pkg::package_lambda(std::span<const std::uint8_t>(binary));

    auto corrupt = zip;
    corrupt[30 + 9 + 100] ^= 0xff;  // inside bootstrap's compressed data
    auto c = pkg::read_zip_entries(corrupt);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, packaging_errc::zip_error);

    for (std::size_t cut : {std::size_t{0}, std::size_t{10}, zip.size() / 2, zip.size() - 1}) {
        auto t = pkg::read_zip_entries(std::span<const std::uint8_t>(zip).first(cut));
        ASSERT_FALSE(t) << cut;
        EXPECT_EQ(t.error().code, packaging_errc::zip_error) << cut;
    }
    auto g = pkg::read_zip_entries(random_bytes(1'000));
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error().code, packaging_errc::zip_error);
}

TEST(Packaging, ReadEnforcesEntryAndSizeLimits) {
    auto zip = raw_zip({{"a", 0100644, bytes_of("1")}, {"b", 0100644, bytes_of("2")}});
    auto many = pkg::read_zip_entries(zip, {.max_entries = 1});
    ASSERT_FALSE(many);
    EXPECT_EQ(many.error().code, packaging_errc::too_large);

    // A small bomb: 32 MB of zeros deflate to ~32 KB; refused on the header's
    // size before anything is inflated.
    Bytes zeros(32u << 20, 0);
    auto bomb = raw_zip({{"zeros", 0100644, zeros}});
    ASSERT_LT(bomb.size(), 100'000u);
    auto r = pkg::read_zip_entries(bomb, {.max_total_bytes = 1u << 20});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, packaging_errc::too_large);
    EXPECT_NE(r.error().message.find("zeros"), std::string::npos);
    EXPECT_TRUE(pkg::read_zip_entries(bomb, {.max_total_bytes = 32u << 20}));
}

TEST(Packaging, ReadReportsDefaultModesForZipsWithoutUnixAttributes) {
    // python3's zipfile writes external attributes 0 for writestr() data.
    TempDir dir;
    auto out = dir / "dos.zip";
    auto [status, output] = run("python3 -c \"import zipfile; z = zipfile.ZipFile('" + out.string() +
                                "', 'w'); i = zipfile.ZipInfo('f.txt'); i.create_system = 0; z.writestr(i, 'x'); "
                                "d = zipfile.ZipInfo('d/'); d.create_system = 0; d.external_attr = 0x10; "
                                "z.writestr(d, ''); z.close()\"");
    ASSERT_EQ(status, 0) << "python3 is needed (scripts/setup-debian.sh): " << output;
    auto e = entries_by_name(read_file(out));
    EXPECT_EQ(e["f.txt"].mode, 0100644u);
    EXPECT_EQ(e["d/"].mode, 040755u);
}

// --- extracting -------------------------------------------------------------

TEST(Packaging, ExtractKeepsTheExecBitAndFolders) {
    TempDir dir;
    auto binary = random_bytes(4'000);
    const std::vector<JobId> jobs = {JobId(7), JobId(8)};
    auto zip = pkg::package_azure(std::span<const std::uint8_t>(binary), jobs);
    ASSERT_TRUE(zip);
    auto out = dir / "app";
    auto r = pkg::extract_zip(*zip, out);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(read_file(out / "bootstrap"), binary);
    struct stat st{};
    ASSERT_EQ(::stat((out / "bootstrap").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0755u);
    ASSERT_EQ(::stat((out / "host.json").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    EXPECT_TRUE(fs::is_regular_file(out / "job7" / "function.json"));
    EXPECT_TRUE(fs::is_regular_file(out / "job8" / "function.json"));

    // Extracting again over the same folder rewrites in place.
    EXPECT_TRUE(pkg::extract_zip(*zip, out));
    EXPECT_EQ(read_file(out / "bootstrap"), binary);
}

TEST(Packaging, ExtractRefusesZipSlipAndWritesNothing) {
    TempDir dir;
    auto zip = raw_zip({{"ok.txt", 0100644, bytes_of("fine")}, {"../escaped.txt", 0100644, bytes_of("evil")}});
    auto out = dir / "out";
    auto r = pkg::extract_zip(zip, out);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, packaging_errc::zip_error);
    EXPECT_FALSE(fs::exists(dir / "escaped.txt"));
    EXPECT_FALSE(fs::exists(out / "ok.txt")) << "validation happens before the first write";
}

TEST(Packaging, ExtractRefusesSymlinkEntries) {
    TempDir dir;
    auto zip = raw_zip({{"link", 0120777, bytes_of("/etc/passwd")}});
    auto entries = pkg::read_zip_entries(zip);
    ASSERT_TRUE(entries);
    EXPECT_EQ((*entries)[0].mode, 0120777u) << "reading reports it as it is";
    auto r = pkg::extract_zip(zip, dir / "out");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, packaging_errc::zip_error);
    EXPECT_NE(r.error().message.find("symlink"), std::string::npos);
}

TEST(Packaging, ExtractDoesNotFollowSymlinksAlreadyInTheTarget) {
    TempDir dir;
    auto outside = dir / "outside";
    fs::create_directories(outside);
    std::ofstream(outside / "victim") << "keep";
    auto out = dir / "out";
    fs::create_directories(out);
    fs::create_directory_symlink(outside, out / "job7");
    fs::create_symlink(outside / "victim", out / "bootstrap");

    const std::vector<JobId> jobs = {JobId(7)};
    auto zip = pkg::package_azure(std::span<const std::uint8_t>(random_bytes(100)), jobs);
    ASSERT_TRUE(zip);
    auto r = pkg::extract_zip(*zip, out);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, packaging_errc::io_error);
    EXPECT_FALSE(fs::exists(outside / "function.json"));

    fs::remove(out / "job7");
    auto r2 = pkg::extract_zip(*zip, out);
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().code, packaging_errc::io_error);
    EXPECT_EQ(text(read_file(outside / "victim")), "keep");
}

// --- other tools accept the zips ------------------------------------------

TEST(Packaging, PythonZipfileReadsNamesModesTimesAndMethod) {
    TempDir dir;
    auto binary = random_bytes(20'000);
    auto zip = pkg::package_gcp(std::span<const std::uint8_t>(binary));
    ASSERT_TRUE(zip);
    auto path = dir / "gcp.zip";
    write_file(path, *zip, kNoExec);
    auto [status, out] = run(
        "python3 -c \"import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n"
        "for i in z.infolist(): print(i.filename, oct(i.external_attr >> 16), i.date_time, i.compress_type, "
        "i.create_system, i.file_size)\" " +
        path.string() + " 2>&1");
    ASSERT_EQ(status, 0) << "python3 zipfile rejected the zip: " << out;
    auto bs = std::to_string(binary.size());
    EXPECT_NE(out.find("package.json 0o100644 (1980, 1, 1, 0, 0, 0) 8 3"), std::string::npos) << out;
    EXPECT_NE(out.find("index.js 0o100644 (1980, 1, 1, 0, 0, 0) 8 3"), std::string::npos) << out;
    EXPECT_NE(out.find("bootstrap 0o100755 (1980, 1, 1, 0, 0, 0) 8 3 " + bs), std::string::npos) << out;
}

TEST(Packaging, UnzipListsTestsAndExtractsTheZip) {
    TempDir dir;
    auto binary = random_bytes(20'000);
    const std::vector<JobId> jobs = {JobId(7)};
    auto zip = pkg::package_azure(std::span<const std::uint8_t>(binary), jobs);
    ASSERT_TRUE(zip);
    auto path = dir / "azure.zip";
    write_file(path, *zip, kNoExec);

    auto [zstatus, zinfo] = run("unzip -Z " + path.string() + " 2>&1");
    ASSERT_EQ(zstatus, 0) << "unzip is needed (scripts/setup-debian.sh): " << zinfo;
    // e.g. "-rwxr-xr-x  6.3 unx    20000 b- defX 80-Jan-01 00:00 bootstrap"
    auto line_of = [&](std::string_view name) {
        std::size_t pos = zinfo.find(std::string(" ") + std::string(name) + "\n");
        if (pos == std::string::npos) return std::string();
        auto start = zinfo.rfind('\n', pos);
        return zinfo.substr(start + 1, pos - start + name.size());
    };
    auto boot = line_of("bootstrap");
    EXPECT_EQ(boot.rfind("-rwxr-xr-x", 0), 0u) << zinfo;
    EXPECT_NE(boot.find("unx"), std::string::npos) << boot;
    EXPECT_NE(boot.find(" def"), std::string::npos) << boot;  // deflate (N/X/F/S: level hint)
    EXPECT_NE(boot.find("80-Jan-01 00:00"), std::string::npos) << boot;
    EXPECT_EQ(line_of("host.json").rfind("-rw-r--r--", 0), 0u) << zinfo;
    EXPECT_NE(line_of("job7/function.json").find(" def"), std::string::npos) << zinfo;

    auto [tstatus, tout] = run("unzip -t " + path.string() + " 2>&1");
    EXPECT_EQ(tstatus, 0) << tout;
    EXPECT_NE(tout.find("No errors detected"), std::string::npos) << tout;

    auto [xstatus, xout] = run("unzip -q " + path.string() + " -d " + (dir / "x").string() + " 2>&1");
    ASSERT_EQ(xstatus, 0) << xout;
    EXPECT_EQ(read_file(dir / "x" / "bootstrap"), binary);
    EXPECT_EQ(::access((dir / "x" / "bootstrap").c_str(), X_OK), 0) << "unzip keeps the exec bit";
    EXPECT_TRUE(fs::is_regular_file(dir / "x" / "job7" / "function.json"));
}

}  // namespace
