// The GCP package under the REAL Google Cloud Functions Framework (npm), with
// the fixture function as its bootstrap; and `bpfaas package`.
//
// Needs node and @google-cloud/functions-framework in the npm cache that
// scripts/setup-npm.sh fills ($BLUEPRINT_NPM_CACHE, default
// ~/.cache/blueprint-faas/npm). Missing either is a failure, not a skip.
#include <blueprint/faas/packaging.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
namespace pkg = blueprint::faas::packaging;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using blueprint::Bytes;
using tcp = asio::ip::tcp;

fs::path binary_dir() {
    if (const char* env = std::getenv("BLUEPRINT_BINARY_DIR")) return env;
#ifdef BLUEPRINT_BINARY_DIR
    return BLUEPRINT_BINARY_DIR;
#else
    return fs::current_path();
#endif
}

fs::path npm_cache() {
    if (const char* env = std::getenv("BLUEPRINT_NPM_CACHE"); env && *env) return env;
    const char* home = std::getenv("HOME");
    return fs::path(home ? home : "/root") / ".cache/blueprint-faas/npm";
}

fs::path framework_main() { return npm_cache() / "node_modules/@google-cloud/functions-framework/build/src/main.js"; }

class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "bp-gcp-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

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

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

unsigned short free_port() {
    asio::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return acceptor.local_endpoint().port();
}

struct Reply {
    int status = 0;
    std::string body;
    std::string cold_start;  // X-Blueprint-Cold-Start, empty when absent
    std::string content_type;
};

/// One blocking HTTP/1.1 exchange on a fresh connection, with socket timeouts
/// so a hung peer fails the test instead of hanging it.
Reply send(unsigned short port, http::verb method, std::string target, std::string body = {},
           std::string content_type = "application/json") {
    asio::io_context ioc;
    tcp::socket socket(ioc);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{60, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (method != http::verb::get) {
        req.set(http::field::content_type, content_type);
        req.body() = std::move(body);
        req.prepare_payload();
    }
    http::write(socket, req);
    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    http::read(socket, buffer, parser);
    auto& res = parser.get();
    Reply r;
    r.status = res.result_int();
    r.body = res.body();
    r.cold_start = std::string(res["X-Blueprint-Cold-Start"]);
    r.content_type = std::string(res[http::field::content_type]);
    return r;
}

std::string blueprint_request(unsigned job, const Bytes& args) {
    std::string s = "{\"job_id\":" + std::to_string(job) + ",\"args\":[";
    s.reserve(s.size() + args.size() * 4 + 2);
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (i) s += ',';
        s += std::to_string(args[i]);
    }
    s += "]}";
    return s;
}

/// The `result` of a Blueprint JSON reply (array of bytes, or a string).
std::optional<Bytes> result_of(const std::string& body) {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("result")) return std::nullopt;
    auto& r = v.at("result");
    Bytes out;
    if (r.is_string()) {
        auto& s = r.as_string();
        out.assign(s.begin(), s.end());
        return out;
    }
    if (!r.is_array()) return std::nullopt;
    out.reserve(r.as_array().size());
    for (auto& x : r.as_array()) out.push_back(static_cast<std::uint8_t>(x.to_number<int>()));
    return out;
}

Bytes random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    Bytes b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(gen());
    return b;
}

/// Children of `parent` whose command name is `comm`, from /proc.
std::vector<pid_t> children_named(pid_t parent, std::string_view comm) {
    std::vector<pid_t> out;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        auto stat = slurp(entry.path() / "stat");
        // "pid (comm) state ppid ..."; comm may hold spaces, so split at the last ')'.
        auto open = stat.find('('), close = stat.rfind(')');
        if (open == std::string::npos || close == std::string::npos) continue;
        auto c = stat.substr(open + 1, close - open - 1);
        int ppid = 0;
        char state = 0;
        if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) != 2) continue;
        if (ppid == parent && c == comm && state != 'Z') out.push_back(static_cast<pid_t>(std::stoi(name)));
    }
    return out;
}

/// Checks what the GCP test needs, with the fix in the failure message.
::testing::AssertionResult framework_available() {
    auto [status, version] = run("node --version 2>&1");
    if (status != 0)
        return ::testing::AssertionFailure() << "node is not installed (run scripts/setup-debian.sh): " << version;
    if (!fs::exists(framework_main()))
        return ::testing::AssertionFailure()
               << "@google-cloud/functions-framework is not in " << npm_cache()
               << ": run scripts/setup-npm.sh (or set BLUEPRINT_NPM_CACHE to where it is installed)";
    auto fixture = binary_dir() / "tests/test_function";
    if (!fs::exists(fixture))
        return ::testing::AssertionFailure() << "the fixture " << fixture << " is not built (target test_function)";
    return ::testing::AssertionSuccess();
}

/// The GCP package of the fixture, unpacked, served by the Functions
/// Framework on a free port. Stops both processes on destruction.
class FrameworkInstance {
public:
    explicit FrameworkInstance(fs::path binary = binary_dir() / "tests/test_function",
                               std::vector<std::pair<std::string, std::string>> env = {}) {
        auto zip = pkg::package_gcp(binary);
        if (!zip) throw std::runtime_error("packaging failed: " + zip.error().to_string());
        source_ = dir_.path() / "src";
        auto ok = pkg::extract_zip(*zip, source_);
        if (!ok) throw std::runtime_error("extract failed: " + ok.error().to_string());
        // npm install on GCP puts node_modules next to index.js; here a
        // symlink to the cache does (and keeps one copy of the framework, so
        // index.js registers with the very registry the CLI reads).
        fs::create_directory_symlink(npm_cache() / "node_modules", source_ / "node_modules");

        port_ = free_port();
        log_ = dir_.path() / "framework.log";
        const std::string main = framework_main().string();
        const std::string port_arg = "--port=" + std::to_string(port_);
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            if (::chdir(source_.c_str()) != 0) ::_exit(126);
            ::unsetenv("PORT");
            ::unsetenv("AWS_LAMBDA_RUNTIME_API");
            ::unsetenv("FUNCTIONS_CUSTOMHANDLER_PORT");
            for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
            ::execlp("node", "node", main.c_str(), "--target=blueprint", "--signature-type=http", port_arg.c_str(),
                     static_cast<char*>(nullptr));
            ::_exit(127);
        }
        // Ready when the framework accepts connections (it listens only
        // after loading index.js), bounded; a dead framework ends the wait.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (true) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("the Functions Framework exited at start-up:\n" + log());
            }
            asio::io_context ioc;
            tcp::socket s(ioc);
            boost::system::error_code ec;
            s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
            if (!ec) break;
            if (std::chrono::steady_clock::now() > deadline)
                throw std::runtime_error("the Functions Framework did not listen within 30 s:\n" + log());
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    ~FrameworkInstance() {
        if (pid_ <= 0) return;
        // The bootstrap goes first, while the framework is there to reap it,
        // so no orphan is left behind; then the framework itself.
        auto kids = children_named(pid_, "bootstrap");
        for (auto k : kids) ::kill(k, SIGKILL);
        for (int i = 0; i < 100 && !children_named(pid_, "bootstrap").empty(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ::kill(pid_, SIGTERM);
        bool exited = false;
        for (int i = 0; i < 100 && !exited; ++i) {
            exited = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
            if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (!exited) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    unsigned short port() const { return port_; }
    pid_t pid() const { return pid_; }
    std::string log() const { return slurp(log_); }

private:
    TempDir dir_;
    fs::path source_;
    fs::path log_;
    unsigned short port_ = 0;
    pid_t pid_ = -1;
};

class GcpPackage : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(framework_available()); }
};

TEST_F(GcpPackage, ServesBlueprintJsonWithColdStartMarkerOnlyOnFirstReply) {
    FrameworkInstance fw;
    // Warm-up event: the first request this instance serves.
    auto warm = send(fw.port(), http::verb::post, "/", blueprint_request(0, {}));
    ASSERT_EQ(warm.status, 200) << warm.body << "\n" << fw.log();
    EXPECT_EQ(warm.cold_start, "1");
    EXPECT_EQ(result_of(warm.body), Bytes{});

    auto payload = blueprint::to_bytes("payload");
    auto echo = send(fw.port(), http::verb::post, "/", blueprint_request(0, payload));
    ASSERT_EQ(echo.status, 200) << echo.body;
    EXPECT_EQ(echo.cold_start, "") << "only the first reply carries the marker";
    EXPECT_EQ(result_of(echo.body), payload) << echo.body;

    // Path, method and body reach the bootstrap unchanged.
    auto by_path = send(fw.port(), http::verb::post, "/job/0", blueprint_request(0, payload));
    EXPECT_EQ(by_path.status, 200) << by_path.body;
    EXPECT_EQ(result_of(by_path.body), payload) << by_path.body;
    auto health = send(fw.port(), http::verb::get, "/health");
    EXPECT_EQ(health.status, 200) << health.body;
    EXPECT_EQ(health.cold_start, "");

    // The binary fixture job: every byte value survives the round trip.
    auto binary = send(fw.port(), http::verb::post, "/", blueprint_request(5, {}));
    ASSERT_EQ(binary.status, 200) << binary.body;
    Bytes all(256);
    for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
    EXPECT_EQ(result_of(binary.body), all);

    // A function-level failure is the bootstrap's own reply, not a 503.
    auto failed = send(fw.port(), http::verb::post, "/", blueprint_request(1, {}));
    EXPECT_NE(failed.status, 503) << failed.body;
    EXPECT_NE(failed.body.find("requested failure"), std::string::npos) << failed.body;

    EXPECT_NE(fw.log().find("started bootstrap pid="), std::string::npos) << fw.log();
}

TEST_F(GcpPackage, ForwardsA4MiBPayload) {
    FrameworkInstance fw;
    auto args = random_bytes(4u << 20, 11);
    auto reply = send(fw.port(), http::verb::post, "/", blueprint_request(0, args));
    ASSERT_EQ(reply.status, 200) << reply.body.substr(0, 500) << "\n" << fw.log();
    auto result = result_of(reply.body);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->size(), args.size());
    EXPECT_TRUE(*result == args);
}

TEST_F(GcpPackage, ConcurrentRequestsEachGetTheirOwnReplyAndOneColdStart) {
    FrameworkInstance fw;
    constexpr int kClients = 12;
    auto round = [&](unsigned seed_base) {
        std::vector<Reply> replies(kClients);
        std::vector<Bytes> sent(kClients);
        std::vector<std::string> errors(kClients);
        std::vector<std::thread> threads;
        for (int i = 0; i < kClients; ++i) {
            sent[i] = random_bytes(1000 + i * 97, seed_base + i);
            threads.emplace_back([&, i] {
                try {
                    replies[i] = send(fw.port(), http::verb::post, "/job/0", blueprint_request(0, sent[i]));
                } catch (const std::exception& e) {
                    errors[i] = e.what();
                }
            });
        }
        for (auto& t : threads) t.join();
        int cold = 0;
        for (int i = 0; i < kClients; ++i) {
            EXPECT_EQ(errors[i], "") << "client " << i;
            EXPECT_EQ(replies[i].status, 200) << replies[i].body;
            EXPECT_EQ(result_of(replies[i].body), sent[i]) << "client " << i;
            if (replies[i].cold_start == "1") ++cold;
        }
        return cold;
    };
    // The instance is fresh: of the first burst, exactly one is its cold start.
    EXPECT_EQ(round(100), 1) << fw.log();
    EXPECT_EQ(round(200), 0);
}

TEST_F(GcpPackage, DeadBootstrapTurnsInto503) {
    FrameworkInstance fw;
    auto warm = send(fw.port(), http::verb::post, "/", blueprint_request(0, {}));
    ASSERT_EQ(warm.status, 200) << warm.body << "\n" << fw.log();

    auto kids = children_named(fw.pid(), "bootstrap");
    ASSERT_EQ(kids.size(), 1u) << fw.log();
    const pid_t child = kids.front();
    EXPECT_NE(fw.log().find("pid=" + std::to_string(child)), std::string::npos) << "the shim logs its child's pid";
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    // Wait (bounded) until the shim has reaped it: then it knows.
    for (int i = 0; i < 200 && fs::exists("/proc/" + std::to_string(child)); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    ASSERT_FALSE(fs::exists("/proc/" + std::to_string(child))) << "bootstrap was not reaped";

    for (int i = 0; i < 2; ++i) {  // and it stays so, it doesn't hang
        auto reply = send(fw.port(), http::verb::post, "/", blueprint_request(0, blueprint::to_bytes("x")));
        EXPECT_EQ(reply.status, 503) << reply.body;
        EXPECT_NE(reply.content_type.find("application/json"), std::string::npos);
        auto v = boost::json::parse(reply.body).as_object();
        EXPECT_EQ(v.at("error").as_string(), "function process exited");
        EXPECT_EQ(v.at("code").as_string(), "bootstrap_exited");
        EXPECT_NE(std::string(v.at("details").as_string()).find("SIGKILL"), std::string::npos) << reply.body;
    }
    EXPECT_NE(fw.log().find("exited with signal SIGKILL"), std::string::npos) << fw.log();
}

fs::path write_script(const fs::path& dir, std::string_view body) {
    auto p = dir / "bootstrap-script";
    std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
    fs::permissions(p, fs::perms::owner_all);
    return p;
}

void expect_503(const Reply& reply, std::string_view code, std::string_view detail) {
    EXPECT_EQ(reply.status, 503) << reply.body;
    boost::system::error_code ec;
    auto v = boost::json::parse(reply.body, ec);
    ASSERT_FALSE(ec) << reply.body;
    EXPECT_EQ(v.at("code").as_string(), code) << reply.body;
    EXPECT_NE(std::string(v.at("details").as_string()).find(detail), std::string::npos) << reply.body;
}

TEST_F(GcpPackage, BootstrapThatExitsAtStartGives503) {
    TempDir dir;
    FrameworkInstance fw(write_script(dir.path(), "echo 'cannot start' >&2; exit 3"));
    auto reply = send(fw.port(), http::verb::post, "/", blueprint_request(0, {}));
    expect_503(reply, "bootstrap_exited", "code 3");
    EXPECT_EQ(reply.cold_start, "1") << "the first request is still this instance's cold start";
    EXPECT_NE(fw.log().find("cannot start"), std::string::npos) << "the child's stderr is the instance's";
}

TEST_F(GcpPackage, BootstrapThatNeverAnswersHealthGives503AfterTheReadyTimeout) {
    TempDir dir;
    FrameworkInstance fw(write_script(dir.path(), "exec sleep 60"), {{"BLUEPRINT_BOOTSTRAP_READY_TIMEOUT_MS", "300"}});
    auto reply = send(fw.port(), http::verb::post, "/", blueprint_request(0, {}));
    expect_503(reply, "bootstrap_not_ready", "300 ms");
    auto again = send(fw.port(), http::verb::post, "/", blueprint_request(0, {}));
    expect_503(again, "bootstrap_not_ready", "GET /health");
    EXPECT_EQ(again.cold_start, "");
}

// --- bpfaas package -----------------------------------------------------------

fs::path bpfaas() { return binary_dir() / "apps/bpfaas/bpfaas"; }

TEST(BpfaasPackage, WritesTheSameZipAsTheLibrary) {
    ASSERT_TRUE(fs::exists(bpfaas())) << bpfaas() << " is not built";
    TempDir dir;
    auto binary = dir.path() / "fn";
    {
        std::ofstream(binary, std::ios::binary) << "#!/bin/sh\nexec cat\n";
    }
    fs::permissions(binary, fs::perms::owner_all);
    auto out = dir.path() / "sub" / "azure.zip";
    auto [status, output] = run(bpfaas().string() + " package --provider azure --job 8 --job 7 " + binary.string() +
                                " -o " + out.string() + " 2>&1");
    ASSERT_EQ(status, 0) << output;
    auto zip = slurp(out);
    EXPECT_NE(output.find("wrote " + out.string() + " (" + std::to_string(zip.size()) + " bytes"), std::string::npos)
        << output;
    EXPECT_NE(output.find("job7"), std::string::npos) << output;

    const std::vector<blueprint::JobId> jobs = {blueprint::JobId(7), blueprint::JobId(8)};
    auto expected = pkg::package_azure(binary, jobs);
    ASSERT_TRUE(expected);
    EXPECT_EQ(Bytes(zip.begin(), zip.end()), *expected);
}

TEST(BpfaasPackage, ReportsRefusalsAndLeavesNoOutput) {
    ASSERT_TRUE(fs::exists(bpfaas())) << bpfaas() << " is not built";
    TempDir dir;
    auto plain = dir.path() / "plain";
    std::ofstream(plain) << "not executable";
    fs::permissions(plain, fs::perms::owner_read | fs::perms::owner_write);
    auto out = dir.path() / "out.zip";

    auto [s1, o1] = run(bpfaas().string() + " package --provider aws " + plain.string() + " -o " + out.string() + " 2>&1");
    EXPECT_EQ(s1, 1) << o1;
    EXPECT_NE(o1.find("blueprint.packaging"), std::string::npos) << o1;
    EXPECT_NE(o1.find("chmod +x"), std::string::npos) << o1;

    auto [s2, o2] = run(bpfaas().string() + " package --provider aws " + (dir.path() / "missing").string() + " -o " +
                        out.string() + " 2>&1");
    EXPECT_EQ(s2, 1) << o2;
    EXPECT_NE(o2.find("does not exist"), std::string::npos) << o2;

    auto [s3, o3] = run(bpfaas().string() + " package --provider lambda " + plain.string() + " -o " + out.string() +
                        " 2>&1");
    EXPECT_EQ(s3, 2) << o3;

    fs::permissions(plain, fs::perms::owner_all);
    auto [s4, o4] = run(bpfaas().string() + " package --provider azure " + plain.string() + " -o " + out.string() +
                        " 2>&1");
    EXPECT_EQ(s4, 1) << o4;
    EXPECT_NE(o4.find("at least one job"), std::string::npos) << o4;
    EXPECT_FALSE(fs::exists(out));
}

}  // namespace
