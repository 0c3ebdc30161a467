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
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace blueprint::platform {
namespace {

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

Error spawn_error(const std::string& what, int err) {
    return Error{std::make_error_code(static_cast<std::errc>(err)), what + ": " + std::strerror(err)};
}

}  // namespace

std::expected<ChildProcess, Error> ChildProcess::spawn(const ProcessOptions& options) {
    if (options.argv.empty()) return std::unexpected(Error{std::make_error_code(std::errc::invalid_argument), "spawn: empty argv"});

    // Environment: inherited, minus unset_env, with env applied on top.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
        std::string_view entry(*e);
        auto name = entry.substr(0, entry.find('='));
        bool drop = options.env.contains(std::string(name)) ||
                    std::find(options.unset_env.begin(), options.unset_env.end(), name) != options.unset_env.end();
        if (!drop) env_strings.emplace_back(entry);
    }
    for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_copy = options.argv;
    std::vector<char*> argv;
    for (auto& s : argv_copy) argv.push_back(s.data());
    argv.push_back(nullptr);

    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    auto close_pair = [](int p[2]) {
        if (p[0] >= 0) ::close(p[0]);
        if (p[1] >= 0) ::close(p[1]);
    };
    if ((options.pipe_stdin && ::pipe2(in, O_CLOEXEC) != 0) || (options.pipe_stdout && ::pipe2(out, O_CLOEXEC) != 0) ||
        (options.pipe_stderr && ::pipe2(err, O_CLOEXEC) != 0)) {
        int e = errno;
        close_pair(in), close_pair(out), close_pair(err);
        return std::unexpected(spawn_error("spawn: pipe", e));
    }

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (options.pipe_stdin) posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    if (options.pipe_stdout) posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    if (options.pipe_stderr) posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // A fresh process group, so signals aimed at us (Ctrl-C) are ours to forward.
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t empty, all;
    sigemptyset(&empty);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &all);

    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (options.pipe_stdin) ::close(in[0]);
    if (options.pipe_stdout) ::close(out[1]);
    if (options.pipe_stderr) ::close(err[1]);
    if (rc != 0) {
        if (options.pipe_stdin) ::close(in[1]);
        if (options.pipe_stdout) ::close(out[0]);
        if (options.pipe_stderr) ::close(err[0]);
        return std::unexpected(spawn_error("spawn " + options.argv[0], rc));
    }
    ChildProcess child;
    child.pid_ = pid;
    child.stdin_fd_ = options.pipe_stdin ? in[1] : -1;
    child.stdout_fd_ = options.pipe_stdout ? out[0] : -1;
    child.stderr_fd_ = options.pipe_stderr ? err[0] : -1;
    return child;
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept { *this = std::move(o); }

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
    if (this != &o) {
        if (pid_ > 0 && !exit_status_) {
            ::kill(pid_, SIGKILL);
            wait();
        }
        close_fds();
        pid_ = std::exchange(o.pid_, -1);
        exit_status_ = std::exchange(o.exit_status_, std::nullopt);
        stdin_fd_ = std::exchange(o.stdin_fd_, -1);
        stdout_fd_ = std::exchange(o.stdout_fd_, -1);
        stderr_fd_ = std::exchange(o.stderr_fd_, -1);
        stdout_buf_ = std::move(o.stdout_buf_);
        stderr_buf_ = std::move(o.stderr_buf_);
    }
    return *this;
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0 && !exit_status_) {
        ::kill(pid_, SIGKILL);
        wait();
    }
    close_fds();
}

void ChildProcess::close_fds() noexcept {
    for (int* fd : {&stdin_fd_, &stdout_fd_, &stderr_fd_}) {
        if (*fd >= 0) ::close(*fd);
        *fd = -1;
    }
}

std::optional<std::string> ChildProcess::read_line(int& fd, std::string& buffer, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (auto nl = buffer.find('\n'); nl != std::string::npos) {
            std::string line = buffer.substr(0, nl);
            buffer.erase(0, nl + 1);
            return line;
        }
        if (fd < 0) return std::nullopt;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        pollfd p{fd, POLLIN, 0};
        int rc = ::poll(&p, 1, static_cast<int>(left.count()));
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return std::nullopt;
        char chunk[4096];
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ::close(fd);
            fd = -1;
            if (buffer.empty()) return std::nullopt;
            return std::exchange(buffer, {});
        }
        buffer.append(chunk, static_cast<std::size_t>(n));
    }
}

std::optional<std::string> ChildProcess::read_stderr_line(std::chrono::milliseconds timeout) {
    return read_line(stderr_fd_, stderr_buf_, timeout);
}
std::optional<std::string> ChildProcess::read_stdout_line(std::chrono::milliseconds timeout) {
    return read_line(stdout_fd_, stdout_buf_, timeout);
}

std::optional<std::string> ChildProcess::wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        auto line = read_stderr_line(left);
        if (!line) return std::nullopt;
        if (line->find(needle) != std::string::npos) return line;
    }
}

bool ChildProcess::write_stdin_and_close(std::string_view data) {
    if (stdin_fd_ < 0) return false;
    bool ok = true;
    while (!data.empty()) {
        ssize_t n = ::write(stdin_fd_, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ok = false;
            break;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    ::close(stdin_fd_);
    stdin_fd_ = -1;
    return ok;
}

std::string ChildProcess::read_all_stdout() {
    std::string all = std::exchange(stdout_buf_, {});
    if (stdout_fd_ < 0) return all;
    char chunk[65536];
    for (;;) {
        ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        all.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(stdout_fd_);
    stdout_fd_ = -1;
    return all;
}

void ChildProcess::signal(int sig) noexcept {
    if (pid_ > 0 && !exit_status_) ::kill(pid_, sig);
}

std::optional<int> ChildProcess::wait(std::optional<std::chrono::milliseconds> timeout) {
    if (exit_status_) return exit_status_;
    if (pid_ <= 0) return std::nullopt;
    auto deadline = std::chrono::steady_clock::now() + timeout.value_or(std::chrono::milliseconds(0));
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(pid_, &status, timeout ? WNOHANG : 0);
        if (r == pid_) {
            exit_status_ = decode_status(status);
            return exit_status_;
        }
        if (r < 0 && errno != EINTR) return std::nullopt;
        if (timeout && std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        if (timeout) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

bool ChildProcess::running() { return pid_ > 0 && !wait(std::chrono::milliseconds(0)); }

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
