#include "platform/async_process.hpp"

#include "platform/process.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace blueprint::platform {
namespace net = boost::asio;

namespace {

using detail::spawn_error;

int decode_status(int status) { return ExitStatus::from_wait_status(status).shell_code(); }

struct Pipe {
    int r = -1, w = -1;
    bool open() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) return false;
        r = fds[0];
        w = fds[1];
        return true;
    }
    void close_both() {
        if (r >= 0) ::close(r);
        if (w >= 0) ::close(w);
        r = w = -1;
    }
};

}  // namespace

std::expected<std::unique_ptr<AsyncProcess>, Error> AsyncProcess::spawn(const net::any_io_executor& ex,
                                                                        const SpawnSpec& spec) {
    if (spec.argv.empty()) return std::unexpected(spawn_error("spawn", EINVAL));

    // Everything the child needs is prepared before fork: between fork and
    // exec only async-signal-safe calls are allowed (the parent is threaded).
    std::vector<std::string> argv_store = spec.argv, env_store = spec.env;
    std::vector<char*> argv = detail::exec_array(argv_store), envp = detail::exec_array(env_store);

    Pipe in, out, err, exec_status;
    auto cleanup = [&] { in.close_both(), out.close_both(), err.close_both(), exec_status.close_both(); };
    if ((spec.pipe_stdin && !in.open()) || !out.open() || (spec.separate_stderr && !err.open()) || !exec_status.open()) {
        int e = errno;
        cleanup();
        return std::unexpected(spawn_error("spawn: pipe", e));
    }
    int devnull = spec.pipe_stdin ? -1 : ::open("/dev/null", O_RDONLY | O_CLOEXEC);

    struct rlimit limit {};
    if (spec.address_space_limit) limit.rlim_cur = limit.rlim_max = *spec.address_space_limit;
    const char* cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();

    pid_t pid = ::fork();
    if (pid < 0) {
        int e = errno;
        cleanup();
        if (devnull >= 0) ::close(devnull);
        return std::unexpected(spawn_error("spawn " + spec.argv[0] + ": fork", e));
    }
    if (pid == 0) {
        // Child. Its own process group, so a kill reaches its children too.
        ::setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int s = 1; s < NSIG; ++s) ::signal(s, SIG_DFL);
        ::dup2(spec.pipe_stdin ? in.r : devnull, 0);
        ::dup2(out.w, 1);
        ::dup2(spec.separate_stderr ? err.w : out.w, 2);
        // Keep the exec-status pipe at fd 3 and close everything else the
        // parent had open (Asio's sockets are not all close-on-exec).
        ::dup2(exec_status.w, 3);
        ::fcntl(3, F_SETFD, FD_CLOEXEC);
        ::close_range(4, ~0U, 0);
        int e = 0;
        if (spec.address_space_limit && ::setrlimit(RLIMIT_AS, &limit) != 0) e = errno;
        if (!e && cwd && ::chdir(cwd) != 0) e = errno;
        if (!e) {
            ::execve(argv[0], argv.data(), envp.data());
            e = errno;
        }
        [[maybe_unused]] auto n = ::write(3, &e, sizeof e);
        ::_exit(127);
    }

    // Parent.
    if (devnull >= 0) ::close(devnull);
    ::close(exec_status.w);
    exec_status.w = -1;
    int child_errno = 0;
    ssize_t n;
    do n = ::read(exec_status.r, &child_errno, sizeof child_errno);
    while (n < 0 && errno == EINTR);
    ::close(exec_status.r);
    exec_status.r = -1;
    if (in.r >= 0) ::close(in.r), in.r = -1;
    if (out.w >= 0) ::close(out.w), out.w = -1;
    if (err.w >= 0) ::close(err.w), err.w = -1;
    if (n == static_cast<ssize_t>(sizeof child_errno)) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        cleanup();
        return std::unexpected(spawn_error("cannot start " + spec.argv[0], child_errno));
    }

    std::unique_ptr<AsyncProcess> p(new AsyncProcess(ex));
    p->pid_ = pid;
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0 && errno == ENOSYS) {
        // No pidfd_open (Linux < 5.3, or valgrind, which we profile under):
        // a thread waits for the exit (without reaping) and closes a pipe,
        // whose read end then stands in for the pidfd (readable from then on).
        Pipe exited;
        if (exited.open()) {
            const int w = exited.w;
            p->waiter_ = std::thread([pid, w] {
                siginfo_t info{};
                while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
                }
                ::close(w);
            });
            pidfd = exited.r;
        }
    }
    if (pidfd < 0) {
        int e = errno;
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        p->status_ = decode_status(status);
        cleanup();
        return std::unexpected(spawn_error("pidfd_open", e));
    }
    ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    p->pidfd_raw_ = pidfd;
    auto adopt = [&](int& fd) {
        net::posix::stream_descriptor d(ex);
        d.assign(fd);
        d.non_blocking(true);
        fd = -1;
        return d;
    };
    p->output_.emplace(adopt(out.r));
    if (spec.pipe_stdin) p->stdin_.emplace(adopt(in.w));
    if (spec.separate_stderr) p->stderr_.emplace(adopt(err.r));
    return p;
}

AsyncProcess::~AsyncProcess() {
    if (pidfd_raw_ >= 0) ::close(pidfd_raw_);
    if (status_fd_ >= 0) ::close(status_fd_);
    if (pid_ > 0 && !status_) {
        ::kill(-pid_, SIGKILL);
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    // Reaped by now, so the fallback waiter's waitid has returned (or will at once).
    if (waiter_.joinable()) waiter_.join();
}

net::awaitable<int> AsyncProcess::async_wait_exit() {
    while (!status_) {
        int status = 0;
        struct rusage usage {};
        pid_t r = ::wait4(pid_, &status, WNOHANG, &usage);
        if (r == pid_) {
            status_ = decode_status(status);
            reaped_rss_mb_ = static_cast<unsigned>((usage.ru_maxrss + 1023) / 1024);
            break;
        }
        if (r < 0 && errno != EINTR) {
            status_ = -1;
            break;
        }
        // The pidfd becomes readable when the child exits. Asio's reactor is
        // edge-triggered and its async_wait does not act on readiness seen
        // before the wait was queued, so a child that exited early could be
        // missed; registering a fresh dup right before each wait makes epoll
        // report the current state.
        boost::system::error_code ec;
        if (pidfd_.is_open()) pidfd_.close(ec);
        const int fd = ::fcntl(pidfd_raw_, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            status_ = -1;
            break;
        }
        pidfd_.assign(fd, ec);
        co_await pidfd_.async_wait(net::posix::stream_descriptor::wait_read, net::redirect_error(net::use_awaitable, ec));
        if (ec == net::error::operation_aborted) throw boost::system::system_error(ec);
    }
    co_return *status_;
}

void AsyncProcess::kill(int sig) noexcept {
    if (pid_ > 0 && !status_) {
        ::kill(-pid_, sig);
        ::kill(pid_, sig);
    }
}

void AsyncProcess::cancel() noexcept {
    boost::system::error_code ignored;
    pidfd_.cancel(ignored);
    if (output_) output_->cancel(ignored);
    if (stdin_) stdin_->cancel(ignored);
    if (stderr_) stderr_->cancel(ignored);
}

bool AsyncProcess::drain(net::posix::stream_descriptor& pipe, std::string& out) {
    if (!pipe.is_open()) return false;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(pipe.native_handle(), buf, sizeof buf);
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        return false;  // EOF or error
    }
}

unsigned AsyncProcess::peak_rss_mb() const {
    if (status_) return reaped_rss_mb_;
    if (pid_ <= 0) return 0;
    // The status file stays open: each read (pread at 0) renders it afresh,
    // without a path lookup and open per call.
    if (status_fd_ < 0) status_fd_ = ::open(("/proc/" + std::to_string(pid_) + "/status").c_str(), O_RDONLY | O_CLOEXEC);
    if (status_fd_ < 0) return 0;
    char buf[4096];
    ssize_t n;
    do n = ::pread(status_fd_, buf, sizeof buf - 1, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return 0;
    buf[n] = '\0';
    const char* line = std::strstr(buf, "\nVmHWM:");
    if (!line) return 0;
    unsigned long kb = std::strtoul(line + 7, nullptr, 10);
    return static_cast<unsigned>((kb + 1023) / 1024);
}

}  // namespace blueprint::platform
