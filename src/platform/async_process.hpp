// A child process driven by Asio: exit observed through a pidfd, output
// through non-blocking pipes. Linux only. Private header.
//
// Lifetime: the destructor SIGKILLs the child's process group and reaps it
// if it is still running, so no instance outlives the platform object.
#pragma once

#include <blueprint/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

namespace blueprint::platform {

struct SpawnSpec {
    /// argv[0] is the executable (no PATH search).
    std::vector<std::string> argv;
    /// The complete environment, "NAME=value" each.
    std::vector<std::string> env;
    std::string cwd;
    /// setrlimit(RLIMIT_AS) in the child, when set.
    std::optional<std::uint64_t> address_space_limit;
    /// A pipe to the child's stdin (else /dev/null).
    bool pipe_stdin = false;
    /// stderr gets its own pipe; else it shares stdout's, so that the two
    /// interleave in the order written (a Lambda log).
    bool separate_stderr = false;
};

class AsyncProcess {
public:
    /// Starts the child. Fails with the errno of fork or exec (ENOENT,
    /// EACCES, ENOEXEC, ...) and a message naming the executable.
    static std::expected<std::unique_ptr<AsyncProcess>, Error> spawn(const boost::asio::any_io_executor& ex,
                                                                     const SpawnSpec& spec);
    ~AsyncProcess();
    AsyncProcess(const AsyncProcess&) = delete;
    AsyncProcess& operator=(const AsyncProcess&) = delete;

    pid_t pid() const noexcept { return pid_; }

    /// Completes when the child has exited and been reaped; returns the exit
    /// status, or 128+signal. Cancel by destroying the object or cancel().
    boost::asio::awaitable<int> async_wait_exit();
    /// The status once reaped.
    std::optional<int> exit_status() const noexcept { return status_; }

    /// Signals the child's whole process group (it leads its own).
    void kill(int sig) noexcept;

    /// Pipes (null when not requested).
    boost::asio::posix::stream_descriptor* stdin_pipe() noexcept { return stdin_ ? &*stdin_ : nullptr; }
    boost::asio::posix::stream_descriptor& output() noexcept { return *output_; }
    boost::asio::posix::stream_descriptor* stderr_pipe() noexcept { return stderr_ ? &*stderr_ : nullptr; }

    /// Reads whatever `pipe` holds now without blocking; appends it to
    /// `out`. Returns false at end of stream or on error.
    static bool drain(boost::asio::posix::stream_descriptor& pipe, std::string& out);

    /// Peak resident memory in MB, rounded up: VmHWM while running, the
    /// reaped child's ru_maxrss after exit; 0 when unknown.
    unsigned peak_rss_mb() const;

    void cancel() noexcept;

private:
    AsyncProcess(const boost::asio::any_io_executor& ex) : pidfd_(ex) {}

    pid_t pid_ = -1;
    std::optional<int> status_;
    unsigned reaped_rss_mb_ = 0;
    /// The pidfd itself; each wait registers a fresh dup of it (see async_wait_exit).
    int pidfd_raw_ = -1;
    /// /proc/{pid}/status, opened on first use by peak_rss_mb().
    mutable int status_fd_ = -1;
    boost::asio::posix::stream_descriptor pidfd_;
    std::optional<boost::asio::posix::stream_descriptor> stdin_, output_, stderr_;
    /// Without pidfd_open: the thread that signals the exit (see spawn).
    std::thread waiter_;
};

}  // namespace blueprint::platform
