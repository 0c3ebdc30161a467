// A child process with pipes, for the demo, the local platform and tests
// (tests/common/process.hpp re-exports it). POSIX (Linux) only. Private header.
#pragma once

#include <blueprint/error.hpp>

#include <chrono>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
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
    /// Which standard streams become pipes (the others are inherited).
    bool pipe_stdin = false;
    bool pipe_stdout = false;
    bool pipe_stderr = false;
    /// Working directory; empty means the parent's.
    std::string cwd;
    /// Start from an empty environment (plus `env`) instead of the inherited one.
    bool clear_env = false;
    /// The child leads a new process group, so that a Ctrl-C aimed at our
    /// terminal's foreground group is ours to forward, not the child's.
    bool new_process_group = true;
};

/// How a child ended.
struct ExitStatus {
    bool exited = false;  // exited normally with `code`
    int code = 0;
    int signal = 0;       // killed by this signal when !exited

    bool ok() const { return exited && code == 0; }
    /// The exit code, or 128+signal as a shell reports a killed child.
    int shell_code() const { return exited ? code : signal ? 128 + signal : -1; }
    std::string to_string() const;
    /// Decodes a waitpid() status.
    static ExitStatus from_wait_status(int raw);
};

/// Owns a running child. The destructor kills (SIGKILL) and reaps it if it
/// is still running and closes the pipes, so a failed test never leaves
/// processes behind. Not thread-safe; one owner drives it.
class ChildProcess {
public:
    /// Starts options.argv[0]. Fails with the errno of pipe2/posix_spawn
    /// (ENOENT, EACCES, ...) and a message naming the executable.
    static std::expected<ChildProcess, Error> spawn(const ProcessOptions& options);

    /// An empty handle: no process.
    ChildProcess() = default;
    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess();

    pid_t pid() const noexcept { return pid_; }

    /// Writes all of `data` to the child's stdin. False if the pipe is closed
    /// (the child exited). Does not interleave with reading: for large
    /// exchanges use `communicate`. Sets SIGPIPE to SIG_IGN process-wide, so
    /// that a child that exited does not kill us.
    bool write_stdin(std::string_view data);
    void close_stdin() noexcept;
    /// write_stdin, then close_stdin.
    bool write_stdin_and_close(std::string_view data);

    /// The next line (without '\n') from the child's stderr / stdout, or
    /// nullopt on end of stream or when `timeout` passes first.
    std::optional<std::string> read_stderr_line(std::chrono::milliseconds timeout);
    std::optional<std::string> read_stdout_line(std::chrono::milliseconds timeout);
    /// Reads stderr lines until one contains `needle`; returns it.
    std::optional<std::string> wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout);
    /// Everything read from stderr so far (lines already returned included).
    const std::string& stderr_seen() const noexcept { return stderr_.seen; }
    /// Reads stdout to its end (blocking), returning what was not yet returned.
    std::string read_all_stdout();

    /// Writes `input` to stdin (then closes it) while reading stdout and stderr
    /// until both reach EOF, then waits for the exit. nullopt on timeout
    /// (the child is left running; the destructor kills it).
    struct Outcome {
        std::string out;
        std::string err;
        ExitStatus status;
    };
    std::optional<Outcome> communicate(std::string_view input, std::chrono::milliseconds timeout);

    /// Sends a signal to the child (no-op after it was reaped).
    void signal(int sig) noexcept;
    /// SIGKILL, then reap.
    ExitStatus kill();
    /// Waits for the exit (on a pidfd); nullopt when `timeout` passes first.
    std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout);
    /// Waits for the exit, at most `timeout` when given; returns the exit
    /// code, or 128+signal when killed. nullopt if still running.
    std::optional<int> wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
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
    void reset() noexcept;

    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    Stream stdout_;
    Stream stderr_;
    std::optional<ExitStatus> status_;
};

/// Path of the running executable (/proc/self/exe).
std::string current_executable_path();

/// Parses "listening on HOST:PORT" as printed by the function runtime.
std::optional<unsigned short> parse_listening_port(std::string_view line);

// Pieces shared with AsyncProcess (async_process.cpp), which forks itself
// because it sets limits in the child.
namespace detail {

/// An Error carrying `err` (an errno value) and "what: strerror(err)".
Error spawn_error(const std::string& what, int err);

/// The null-terminated char* array execve wants, pointing into `strings`
/// (which must outlive it and not be resized).
std::vector<char*> exec_array(std::vector<std::string>& strings);

}  // namespace detail

}  // namespace blueprint::platform
