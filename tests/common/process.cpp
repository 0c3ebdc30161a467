// ChildProcess: posix_spawn with pipes (see process.hpp).
#include "common/process.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace blueprint::test {
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

ExitStatus decode_status(int raw) {
    ExitStatus s;
    if (WIFEXITED(raw)) {
        s.exited = true;
        s.code = WEXITSTATUS(raw);
    } else if (WIFSIGNALED(raw)) {
        s.signal = WTERMSIG(raw);
    }
    return s;
}

}  // namespace

std::string ExitStatus::to_string() const {
    if (exited) return "exit code " + std::to_string(code);
    return std::string("signal ") + std::to_string(signal) + " (" + (strsignal(signal) ? strsignal(signal) : "?") + ")";
}

ChildProcess ChildProcess::spawn(const std::string& path, const std::vector<std::string>& args,
                                 const ProcessOptions& options) {
    // Environment: ours (unless cleared) minus unset_env, plus env.
    std::vector<std::string> env_strings;
    if (!options.clear_env) {
        for (char** e = environ; e && *e; ++e) {
            std::string_view entry(*e);
            const auto name = entry.substr(0, entry.find('='));
            const bool dropped =
                std::any_of(options.unset_env.begin(), options.unset_env.end(), [&](const std::string& u) { return u == name; }) ||
                std::any_of(options.env.begin(), options.env.end(), [&](const auto& kv) { return kv.first == name; });
            if (!dropped) env_strings.emplace_back(entry);
        }
    }
    for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);

    std::vector<std::string> argv_strings;
    argv_strings.push_back(path);
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    auto cleanup = [&] {
        for (int* p : {in, out, err}) {
            close_fd(p[0]);
            close_fd(p[1]);
        }
    };
    if ((options.pipe_stdin && ::pipe2(in, O_CLOEXEC) != 0) || (options.pipe_stdout && ::pipe2(out, O_CLOEXEC) != 0) ||
        (options.pipe_stderr && ::pipe2(err, O_CLOEXEC) != 0)) {
        cleanup();
        throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    }

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // dup2 clears O_CLOEXEC on the target, so only these three survive exec.
    if (options.pipe_stdin) posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    if (options.pipe_stdout) posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    if (options.pipe_stderr) posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());

    // The child starts with default signal dispositions and an empty mask,
    // whatever the test runner set.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, path.c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        cleanup();
        throw std::runtime_error("cannot start " + path + ": " + std::strerror(rc));
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
    close_all();
}

void ChildProcess::close_all() noexcept {
    close_fd(stdin_fd_);
    close_fd(stdout_.fd);
    close_fd(stderr_.fd);
}

bool ChildProcess::write_stdin(std::string_view data) {
    if (stdin_fd_ < 0) return false;
    // A child that exited must not kill the test with SIGPIPE.
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

void ChildProcess::close_stdin() { close_fd(stdin_fd_); }

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

void ChildProcess::signal(int sig) {
    if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

ExitStatus ChildProcess::kill() {
    signal(SIGKILL);
    if (status_ || pid_ <= 0) return status_.value_or(ExitStatus{});
    int raw = 0;
    while (::waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {}
    status_ = decode_status(raw);
    return *status_;
}

bool ChildProcess::running() {
    if (status_ || pid_ <= 0) return false;
    int raw = 0;
    if (::waitpid(pid_, &raw, WNOHANG) == pid_) {
        status_ = decode_status(raw);
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
            status_ = decode_status(raw);
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

std::string build_dir(const char* compiled_in) {
    if (const char* env = std::getenv("BLUEPRINT_BINARY_DIR"); env && *env) return env;
    if (compiled_in && *compiled_in) return compiled_in;
    // Test binaries live in <build>/tests/.
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return ".";
    return exe.parent_path().parent_path().string();
}

}  // namespace blueprint::test
