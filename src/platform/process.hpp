// A child process with pipes, for the demo, the local platform and tests.
// POSIX only. Private header.
#pragma once

#include <blueprint/error.hpp>

#include <chrono>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace blueprint::platform {

struct ProcessOptions {
    /// argv[0] is the executable path (no PATH search).
    std::vector<std::string> argv;
    /// Variables added to (or replacing those of) the inherited environment.
    std::map<std::string, std::string> env;
    /// Variables removed from the inherited environment.
    std::vector<std::string> unset_env;
    bool pipe_stdin = false;
    bool pipe_stdout = false;
    bool pipe_stderr = false;
    /// Working directory; empty means the parent's.
    std::string cwd;
};

/// Owns a running child. The destructor kills (SIGKILL) and reaps it if it
/// is still running, so a failed test never leaves processes behind.
class ChildProcess {
public:
    static std::expected<ChildProcess, Error> spawn(const ProcessOptions& options);

    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess();

    pid_t pid() const noexcept { return pid_; }

    /// Reads one line (without '\n') from the child's stderr or stdout,
    /// waiting at most `timeout`. nullopt on timeout or end of stream.
    std::optional<std::string> read_stderr_line(std::chrono::milliseconds timeout);
    std::optional<std::string> read_stdout_line(std::chrono::milliseconds timeout);
    /// Waits for a stderr line containing `needle`; returns that line.
    std::optional<std::string> wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout);

    /// Writes all of `data` to stdin and closes it.
    bool write_stdin_and_close(std::string_view data);
    /// Reads stdout to its end.
    std::string read_all_stdout();

    void signal(int sig) noexcept;
    /// Waits for exit; returns the exit status, or 128+signal when killed.
    /// nullopt if it is still running after `timeout`.
    std::optional<int> wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
    bool running();

private:
    ChildProcess() = default;
    std::optional<std::string> read_line(int& fd, std::string& buffer, std::chrono::milliseconds timeout);
    void close_fds() noexcept;

    pid_t pid_ = -1;
    std::optional<int> exit_status_;
    int stdin_fd_ = -1, stdout_fd_ = -1, stderr_fd_ = -1;
    std::string stdout_buf_, stderr_buf_;
};

/// Path of the running executable (/proc/self/exe).
std::string current_executable_path();

/// Parses "listening on HOST:PORT" as printed by the function runtime.
std::optional<unsigned short> parse_listening_port(std::string_view line);

}  // namespace blueprint::platform
