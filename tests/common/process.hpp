// A child process for tests: spawn a real binary with arguments and
// environment, talk to it over pipes, signal it, wait for it. The destructor
// SIGKILLs and reaps a child that is still running, so a failing test never
// leaks processes.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace blueprint::test {

struct ProcessOptions {
    /// Variables to set (NAME, value) on top of the inherited environment.
    std::vector<std::pair<std::string, std::string>> env;
    /// Inherited variables to remove (e.g. PORT, AWS_LAMBDA_RUNTIME_API).
    std::vector<std::string> unset_env;
    /// Start from an empty environment instead of this process's one.
    bool clear_env = false;
    /// Working directory; empty keeps ours.
    std::string cwd;
    /// Which standard streams become pipes (others are inherited).
    bool pipe_stdin = true;
    bool pipe_stdout = true;
    bool pipe_stderr = true;
};

/// How a child ended.
struct ExitStatus {
    bool exited = false;  // exited normally with `code`
    int code = 0;
    int signal = 0;       // killed by this signal when !exited

    bool ok() const { return exited && code == 0; }
    std::string to_string() const;
};

class ChildProcess {
public:
    /// Starts `path` with `args` (not including argv[0]). Throws
    /// std::runtime_error if it cannot be started (e.g. no such file).
    static ChildProcess spawn(const std::string& path, const std::vector<std::string>& args = {},
                              const ProcessOptions& options = {});

    /// An empty handle: no process.
    ChildProcess() = default;
    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    /// SIGKILLs and reaps the child if it still runs; closes the pipes.
    ~ChildProcess();

    pid_t pid() const noexcept { return pid_; }

    /// Writes all of `data` to the child's stdin. False if the pipe is closed
    /// (the child exited). Does not interleave with reading: for large
    /// exchanges use `communicate`.
    bool write_stdin(std::string_view data);
    void close_stdin();

    /// The next line (without '\n') from the child's stderr / stdout, or
    /// nullopt on EOF or when `timeout` passes first.
    std::optional<std::string> read_stderr_line(std::chrono::milliseconds timeout);
    std::optional<std::string> read_stdout_line(std::chrono::milliseconds timeout);
    /// Reads stderr lines until one contains `needle`; returns it.
    std::optional<std::string> wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout);
    /// Everything read from stderr so far (lines already returned included).
    const std::string& stderr_seen() const noexcept { return stderr_.seen; }

    /// Writes `input` to stdin (then closes it) while reading stdout and stderr
    /// until both reach EOF, then waits for the exit. nullopt on timeout
    /// (the child is left running; the destructor kills it).
    struct Outcome {
        std::string out;
        std::string err;
        ExitStatus status;
    };
    std::optional<Outcome> communicate(std::string_view input, std::chrono::milliseconds timeout);

    /// Sends a signal (no-op after the child was reaped).
    void signal(int sig);
    /// SIGKILL, then wait.
    ExitStatus kill();
    /// Waits for the exit; nullopt when `timeout` passes first.
    std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout);
    /// Whether the child still runs (reaps it if it has exited).
    bool running();

private:
    struct Stream {
        int fd = -1;
        std::string buffer;  // read but not yet returned
        std::string seen;    // everything read
        bool eof = false;
    };

    std::optional<std::string> read_line(Stream& s, std::chrono::milliseconds timeout);
    static bool fill(Stream& s, std::chrono::steady_clock::time_point deadline);
    void close_all() noexcept;
    void reset() noexcept;

    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    Stream stdout_;
    Stream stderr_;
    std::optional<ExitStatus> status_;
};

/// The build tree's root: $BLUEPRINT_BINARY_DIR, else `compiled_in` when
/// given, else the parent of the running test binary's folder.
std::string build_dir(const char* compiled_in = nullptr);

/// Path of a binary built in this build tree, e.g. build_path("tests/test_function").
/// Test targets that define BLUEPRINT_BINARY_DIR pass it through.
inline std::string build_path(std::string_view relative) {
#ifdef BLUEPRINT_BINARY_DIR
    return build_dir(BLUEPRINT_BINARY_DIR) + "/" + std::string(relative);
#else
    return build_dir() + "/" + std::string(relative);
#endif
}

}  // namespace blueprint::test
