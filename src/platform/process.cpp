// ChildProcess: posix_spawn with pipes (see process.hpp).
#include "platform/process.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace blueprint::platform {
namespace {

using clock = std::chrono::steady_clock;

int remaining_ms(clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1'000'000));
}

void close_fd(int& fd) noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

/// Ours (unless cleared) minus unset_env and the names in env, plus env.
std::vector<std::string> child_environment(const ProcessOptions& options) {
    std::vector<std::string> env;
    if (!options.clear_env) {
        for (char** e = environ; e && *e; ++e) {
            std::string_view entry(*e);
            const std::string name(entry.substr(0, entry.find('=')));
            const bool dropped = options.env.contains(name) ||
                                 std::find(options.unset_env.begin(), options.unset_env.end(), name) != options.unset_env.end();
            if (!dropped) env.emplace_back(entry);
        }
    }
    for (const auto& [k, v] : options.env) env.push_back(k + "=" + v);
    return env;
}

}  // namespace

namespace detail {

Error spawn_error(const std::string& what, int err) {
    return Error{std::make_error_code(static_cast<std::errc>(err)), what + ": " + std::strerror(err)};
}

std::vector<char*> exec_array(std::vector<std::string>& strings) {
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

}  // namespace detail

ExitStatus ExitStatus::from_wait_status(int raw) {
    ExitStatus s;
    if (WIFEXITED(raw)) {
        s.exited = true;
        s.code = WEXITSTATUS(raw);
    } else if (WIFSIGNALED(raw)) {
        s.signal = WTERMSIG(raw);
    }
    return s;
}

std::string ExitStatus::to_string() const {
    if (exited) return "exit code " + std::to_string(code);
    const char* name = strsignal(signal);
    return "signal " + std::to_string(signal) + " (" + (name ? name : "?") + ")";
}

std::expected<ChildProcess, Error> ChildProcess::spawn(const ProcessOptions& options) {
    if (options.argv.empty()) return std::unexpected(detail::spawn_error("spawn: empty argv", EINVAL));

    std::vector<std::string> env_strings = child_environment(options);
    std::vector<std::string> argv_strings = options.argv;
    const std::vector<char*> envp = detail::exec_array(env_strings);
    const std::vector<char*> argv = detail::exec_array(argv_strings);

    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    auto cleanup = [&] {
        for (int* p : {in, out, err}) {
            close_fd(p[0]);
            close_fd(p[1]);
        }
    };
    if ((options.pipe_stdin && ::pipe2(in, O_CLOEXEC) != 0) || (options.pipe_stdout && ::pipe2(out, O_CLOEXEC) != 0) ||
        (options.pipe_stderr && ::pipe2(err, O_CLOEXEC) != 0)) {
        const int e = errno;
        cleanup();
        return std::unexpected(detail::spawn_error("spawn: pipe", e));
    }

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // dup2 clears O_CLOEXEC on the target, so only these three survive exec.
    if (options.pipe_stdin) posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    if (options.pipe_stdout) posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    if (options.pipe_stderr) posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());

    // The child starts with default signal dispositions and an empty mask,
    // whatever its parent (a test runner, a signal-handling CLI) set.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    if (options.new_process_group) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&attr, 0);
    }
    posix_spawnattr_setflags(&attr, flags);

    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        cleanup();
        return std::unexpected(detail::spawn_error("cannot start " + options.argv[0], rc));
    }

    ChildProcess child;
    child.pid_ = pid;
    close_fd(in[0]);
    close_fd(out[1]);
    close_fd(err[1]);
    child.stdin_fd_ = in[1];
    child.stdout_.fd = out[0];
    child.stderr_.fd = err[0];
    return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept { *this = std::move(other); }

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
        reset();
        pid_ = std::exchange(other.pid_, -1);
        stdin_fd_ = std::exchange(other.stdin_fd_, -1);
        stdout_ = std::exchange(other.stdout_, Stream{});
        stderr_ = std::exchange(other.stderr_, Stream{});
        status_ = std::exchange(other.status_, std::nullopt);
    }
    return *this;
}

ChildProcess::~ChildProcess() { reset(); }

void ChildProcess::reset() noexcept {
    if (pid_ > 0 && !status_) {
        ::kill(pid_, SIGKILL);
        int raw = 0;
        while (::waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {}
    }
    pid_ = -1;
    status_.reset();
    close_fd(stdin_fd_);
    close_fd(stdout_.fd);
    close_fd(stderr_.fd);
}

bool ChildProcess::write_stdin(std::string_view data) {
    if (stdin_fd_ < 0) return false;
    std::signal(SIGPIPE, SIG_IGN);
    while (!data.empty()) {
        const ssize_t n = ::write(stdin_fd_, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

void ChildProcess::close_stdin() noexcept { close_fd(stdin_fd_); }

bool ChildProcess::write_stdin_and_close(std::string_view data) {
    const bool ok = write_stdin(data);
    close_stdin();
    return ok;
}

bool ChildProcess::fill(Stream& s, clock::time_point deadline) {
    if (s.fd < 0 || s.eof) return false;
    pollfd p{s.fd, POLLIN, 0};
    for (;;) {
        const int r = ::poll(&p, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;  // timeout
        break;
    }
    char buf[4096];
    ssize_t n;
    do n = ::read(s.fd, buf, sizeof buf);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        s.eof = true;
        return false;
    }
    s.buffer.append(buf, static_cast<std::size_t>(n));
    s.seen.append(buf, static_cast<std::size_t>(n));
    return true;
}

std::optional<std::string> ChildProcess::read_line(Stream& s, std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
        if (auto nl = s.buffer.find('\n'); nl != std::string::npos) {
            std::string line = s.buffer.substr(0, nl);
            s.buffer.erase(0, nl + 1);
            return line;
        }
        if (!fill(s, deadline)) {
            if (s.eof && !s.buffer.empty()) return std::exchange(s.buffer, {});
            return std::nullopt;
        }
    }
}

std::optional<std::string> ChildProcess::read_stderr_line(std::chrono::milliseconds timeout) {
    return read_line(stderr_, timeout);
}

std::optional<std::string> ChildProcess::read_stdout_line(std::chrono::milliseconds timeout) {
    return read_line(stdout_, timeout);
}

std::optional<std::string> ChildProcess::wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
        auto line = read_line(stderr_, std::chrono::milliseconds(remaining_ms(deadline)));
        if (!line) return std::nullopt;
        if (line->find(needle) != std::string::npos) return line;
    }
}

std::string ChildProcess::read_all_stdout() {
    while (stdout_.fd >= 0 && !stdout_.eof) fill(stdout_, clock::time_point::max());
    return std::exchange(stdout_.buffer, {});
}

std::optional<ChildProcess::Outcome> ChildProcess::communicate(std::string_view input, std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    std::signal(SIGPIPE, SIG_IGN);
    if (stdin_fd_ >= 0 && input.empty()) close_stdin();
    if (stdin_fd_ >= 0) ::fcntl(stdin_fd_, F_SETFL, ::fcntl(stdin_fd_, F_GETFL) | O_NONBLOCK);
    Outcome outcome;
    // Collect from the position reached so far.
    const std::size_t out_start = stdout_.seen.size() - stdout_.buffer.size();
    const std::size_t err_start = stderr_.seen.size() - stderr_.buffer.size();
    for (;;) {
        std::vector<pollfd> fds;
        if (stdin_fd_ >= 0) fds.push_back({stdin_fd_, POLLOUT, 0});
        if (stdout_.fd >= 0 && !stdout_.eof) fds.push_back({stdout_.fd, POLLIN, 0});
        if (stderr_.fd >= 0 && !stderr_.eof) fds.push_back({stderr_.fd, POLLIN, 0});
        if (fds.empty()) break;
        const int r = ::poll(fds.data(), fds.size(), remaining_ms(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return std::nullopt;
        for (const auto& p : fds) {
            if (p.revents == 0) continue;
            if (p.fd == stdin_fd_) {
                const ssize_t n = ::write(stdin_fd_, input.data(), input.size());
                if (n > 0) input.remove_prefix(static_cast<std::size_t>(n));
                if ((n < 0 && errno != EAGAIN && errno != EINTR) || input.empty()) close_stdin();
            } else {
                Stream& s = p.fd == stdout_.fd ? stdout_ : stderr_;
                fill(s, clock::now());
            }
        }
    }
    auto status = wait_for(std::chrono::milliseconds(remaining_ms(deadline)));
    if (!status) return std::nullopt;
    outcome.out = stdout_.seen.substr(out_start);
    outcome.err = stderr_.seen.substr(err_start);
    stdout_.buffer.clear();
    stderr_.buffer.clear();
    outcome.status = *status;
    return outcome;
}

void ChildProcess::signal(int sig) noexcept {
    if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

ExitStatus ChildProcess::kill() {
    signal(SIGKILL);
    if (status_ || pid_ <= 0) return status_.value_or(ExitStatus{});
    int raw = 0;
    while (::waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {}
    status_ = ExitStatus::from_wait_status(raw);
    return *status_;
}

bool ChildProcess::running() {
    if (status_ || pid_ <= 0) return false;
    int raw = 0;
    if (::waitpid(pid_, &raw, WNOHANG) == pid_) {
        status_ = ExitStatus::from_wait_status(raw);
        return false;
    }
    return true;
}

std::optional<ExitStatus> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
    if (status_) return status_;
    if (pid_ <= 0) return std::nullopt;
    const auto deadline = clock::now() + timeout;
    // A pidfd makes the wait an event (Linux 5.3+); fall back to polling.
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    for (;;) {
        int raw = 0;
        const pid_t r = ::waitpid(pid_, &raw, WNOHANG);
        if (r == pid_) {
            status_ = ExitStatus::from_wait_status(raw);
            break;
        }
        if (r < 0 && errno != EINTR) break;
        const int left = remaining_ms(deadline);
        if (left == 0) break;
        if (pidfd >= 0) {
            pollfd p{pidfd, POLLIN, 0};
            ::poll(&p, 1, left);
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(std::min(left, 5)));
        }
    }
    if (pidfd >= 0) ::close(pidfd);
    return status_;
}

std::optional<int> ChildProcess::wait(std::optional<std::chrono::milliseconds> timeout) {
    if (timeout) {
        auto status = wait_for(*timeout);
        return status ? std::optional<int>(status->shell_code()) : std::nullopt;
    }
    if (!status_ && pid_ > 0) {
        int raw = 0;
        pid_t r;
        while ((r = ::waitpid(pid_, &raw, 0)) < 0 && errno == EINTR) {}
        if (r == pid_) status_ = ExitStatus::from_wait_status(raw);
    }
    return status_ ? std::optional<int>(status_->shell_code()) : std::nullopt;
}

std::string current_executable_path() {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return {};
    return std::string(buf, static_cast<std::size_t>(n));
}

std::optional<unsigned short> parse_listening_port(std::string_view line) {
    auto at = line.find("listening on ");
    if (at == std::string_view::npos) return std::nullopt;
    auto colon = line.rfind(':');
    if (colon == std::string_view::npos || colon < at) return std::nullopt;
    auto digits = line.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc{} || end == digits.data() || port > 65535) return std::nullopt;
    return static_cast<unsigned short>(port);
}

}  // namespace blueprint::platform
