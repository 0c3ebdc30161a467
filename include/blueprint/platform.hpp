// The local FaaS platform behind `bpfaas local` (ARCHITECTURE.md §6, §7, §10):
// the AWS Lambda API subset and the Blueprint custom platform API on one
// port over one function store, running each function's `bootstrap` as warm
// instances through the Lambda Runtime API. POSIX (Linux) only.
#pragma once

#include <blueprint/error.hpp>
#include <blueprint/log.hpp>

#include <chrono>
#include <cstddef>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace blueprint::platform {

/// Why the platform could not start.
enum class platform_errc {
    /// The data directory could not be created, read or written.
    data_dir_unusable = 1,
    /// The listening address could not be bound (in use, not local, ...).
    bind_failed,
    /// An option is invalid (e.g. aws_credentials not "ACCESS:SECRET").
    invalid_options,
    /// start() was called twice.
    already_started,
};

const boost::system::error_category& platform_category() noexcept;
inline error_code make_error_code(platform_errc e) noexcept { return {static_cast<int>(e), platform_category()}; }

struct LocalPlatformOptions {
    /// Address to bind. Keep it on loopback: the APIs run uploaded code.
    std::string host = "127.0.0.1";
    /// Port to bind; 0 picks a free one (start() returns it).
    unsigned short port = 9000;
    /// Where functions are stored (data_dir/functions/{name}/). Required.
    std::filesystem::path data_dir;
    /// When set, the custom platform API requires `Authorization: Bearer <key>`.
    std::optional<std::string> api_key;
    /// When set ("ACCESS_KEY_ID:SECRET"), every Lambda API request must carry
    /// a valid SigV4 signature by that key, dated within 5 minutes.
    std::optional<std::string> aws_credentials;
    /// The region in ARNs and the one SigV4 scopes must name.
    std::string region = "us-east-1";
    /// An idle instance is stopped after this long.
    std::chrono::seconds keep_alive{300};
    /// Largest accepted deployment package (custom API zip body, decoded
    /// Lambda ZipFile). Lambda's own direct-upload cap is 50 MB.
    std::size_t max_package_bytes = 250u * 1024 * 1024;
    /// Largest Invoke payload and function response (Lambda: 6 MB).
    std::size_t max_payload_bytes = 6u * 1024 * 1024;
    /// Instances across all functions; a function without reserved
    /// concurrency may use up to this many.
    unsigned max_instances = 64;
    /// Queued asynchronous (Event) invocations per function; more get 429.
    std::size_t max_queued_events = 1000;
    /// How long an instance may take to ask for its first event.
    std::chrono::milliseconds init_timeout{10'000};
    /// How long a new or updated function stays Pending / InProgress before
    /// it becomes Active / Successful. Small, but non-zero by default so that
    /// clients exercise their state polling as they must against AWS.
    std::chrono::milliseconds state_transition_delay{100};
    /// Apply MemorySize to each instance with setrlimit(RLIMIT_AS). This
    /// caps virtual address space, not resident memory: a runtime that
    /// reserves much more than it touches (many threads, big arenas) may
    /// fail under a limit it would fit in on AWS.
    bool apply_memory_limit = true;
    /// Logger; null logs nothing.
    LogSink log;
};

/// The platform. start() binds and serves on a background thread; stop()
/// (or destruction) stops every instance and the server.
///
/// Thread-safety: start(), stop() and wait() may be called from any thread,
/// but not concurrently with the destructor.
class LocalPlatform {
public:
    explicit LocalPlatform(LocalPlatformOptions options);
    ~LocalPlatform();
    LocalPlatform(const LocalPlatform&) = delete;
    LocalPlatform& operator=(const LocalPlatform&) = delete;

    /// Loads the store, binds, and starts serving. Returns the bound port
    /// (useful with port 0 in tests).
    std::expected<unsigned short, Error> start();
    /// Stops accepting, fails queued and in-flight invocations with a clear
    /// error, stops every instance (SIGTERM, then SIGKILL after a grace),
    /// and joins the server thread. Idempotent.
    void stop();
    /// Blocks until stop() has been called and completed, or SIGINT/SIGTERM
    /// arrives (then stops). Returns 0.
    int run_until_signalled();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace blueprint::platform

template <> struct boost::system::is_error_code_enum<blueprint::platform::platform_errc> : std::true_type {};
