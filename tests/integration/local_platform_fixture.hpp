// Shared by the local platform's integration tests: the real `bpfaas local`
// process on port 0 with a temporary data directory, the fixture function
// packaged as a Lambda zip, and a tiny blocking HTTP client.
#pragma once

#include "common/process.hpp"

#include <blueprint/faas/packaging.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <gtest/gtest.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <sys/socket.h>

namespace blueprint::test::local {

namespace fs = std::filesystem;

struct TempDir {
    fs::path path;
    explicit TempDir(std::string_view prefix = "bpfaas-it") {
        std::random_device rd;
        path = fs::temp_directory_path() / (std::string(prefix) + "-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

inline std::string bpfaas_path() { return build_path("apps/bpfaas/bpfaas"); }
inline std::string fixture_path() { return build_path("tests/test_function"); }

/// The fixture function as a Lambda zip (bootstrap, 0755).
inline std::string fixture_zip() {
    auto zip = faas::packaging::package_lambda(fs::path(fixture_path()));
    if (!zip) throw std::runtime_error("package_lambda: " + zip.error().message);
    return std::string(zip->begin(), zip->end());
}

/// A zip holding `script` as bootstrap (a shell script), for misbehaving functions.
inline std::string script_zip(std::string_view script) {
    std::vector<std::uint8_t> bytes(script.begin(), script.end());
    auto zip = faas::packaging::package_lambda(std::span<const std::uint8_t>(bytes));
    if (!zip) throw std::runtime_error("package_lambda: " + zip.error().message);
    return std::string(zip->begin(), zip->end());
}

inline void write_file(const fs::path& p, std::string_view data) {
    std::ofstream out(p, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

struct HttpReply {
    int status = 0;
    std::map<std::string, std::string> headers;  // lowercase names
    std::string body;
    std::string header(const std::string& lname) const {
        auto it = headers.find(lname);
        return it == headers.end() ? std::string() : it->second;
    }
};

/// One request on a fresh connection. Throws on transport failure.
inline HttpReply http(unsigned short port, const std::string& method, const std::string& target,
                      const std::string& body = {}, const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    namespace net = boost::asio;
    namespace beast = boost::beast;
    namespace bhttp = beast::http;
    net::io_context ioc;
    net::ip::tcp::socket socket(ioc);
    socket.connect({net::ip::make_address("127.0.0.1"), port});
    // No test may hang forever on a silent server.
    timeval tv{120, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    req.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port));
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    bhttp::write(socket, req);
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    bhttp::read(socket, buffer, parser);
    HttpReply out;
    auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        out.headers[name] = std::string(f.value());
    }
    out.body = std::move(res.body());
    return out;
}

/// A running `bpfaas local --port 0`.
class PlatformProcess {
public:
    explicit PlatformProcess(const fs::path& data_dir, std::vector<std::string> extra = {},
                             std::vector<std::pair<std::string, std::string>> env = {}) {
        std::vector<std::string> args = {"--log-level", "error", "local", "--port", "0", "--data-dir", data_dir.string()};
        args.insert(args.end(), extra.begin(), extra.end());
        ProcessOptions options;
        options.env = std::move(env);
        options.pipe_stdin = false;
        options.pipe_stdout = false;
        process_.emplace(ChildProcess::spawn(bpfaas_path(), args, options));
        auto line = process_->wait_for_stderr("listening on", std::chrono::seconds(30));
        if (!line) throw std::runtime_error("bpfaas local did not start: " + process_->stderr_seen());
        auto colon = line->rfind(':');
        unsigned p = 0;
        std::from_chars(line->data() + colon + 1, line->data() + line->size(), p);
        port_ = static_cast<unsigned short>(p);
    }
    /// Stops it gracefully, so its instances are stopped too (a SIGKILL
    /// would leave them to notice the closed Runtime API on their own).
    ~PlatformProcess() {
        if (process_ && process_->running()) stop(std::chrono::seconds(10));
    }
    PlatformProcess(const PlatformProcess&) = delete;
    PlatformProcess& operator=(const PlatformProcess&) = delete;

    unsigned short port() const { return port_; }
    ChildProcess& process() { return *process_; }
    /// SIGTERM and wait; returns the exit status.
    std::optional<ExitStatus> stop(std::chrono::seconds timeout = std::chrono::seconds(20)) {
        process_->signal(SIGTERM);
        return process_->wait_for(timeout);
    }

private:
    std::optional<ChildProcess> process_;
    unsigned short port_ = 0;
};

/// A Prometheus counter's value for a function, or -1 when absent.
inline long long metric(const std::string& text, const std::string& name, const std::string& function) {
    const std::string key = name + "{function=\"" + function + "\"} ";
    auto at = text.find(key);
    if (at == std::string::npos) return -1;
    return std::stoll(text.substr(at + key.size()));
}

}  // namespace blueprint::test::local
