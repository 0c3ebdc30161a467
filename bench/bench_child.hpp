// A child process for the benchmark programs: stderr goes to a file, whose
// "listening on host:PORT" line gives the port. Used by bench_platform.
// (Tests use src/platform/process instead; a bench keeps
// its children's logs on disk for inspection.)
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace bench {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

/// A child process with stderr in a file; SIGTERM (then SIGKILL) on destruction.
struct Child {
    pid_t pid = -1;
    fs::path log;

    Child(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env, fs::path log_path)
        : log(std::move(log_path)) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        std::vector<std::string> env;
        for (char** e = environ; *e; ++e) {
            std::string_view v(*e);
            if (v.starts_with("AWS_LAMBDA_RUNTIME_API=") || v.starts_with("PORT=") ||
                v.starts_with("FUNCTIONS_CUSTOMHANDLER_PORT="))
                continue;
            env.emplace_back(v);
        }
        for (const auto& e : extra_env) env.push_back(e);
        std::vector<char*> args, envp;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
        envp.push_back(nullptr);
        if (posix_spawnp(&pid, argv[0].c_str(), &fa, nullptr, args.data(), envp.data()) != 0)
            throw std::runtime_error("cannot start " + argv[0]);
        posix_spawn_file_actions_destroy(&fa);
    }
    Child(const Child&) = delete;
    ~Child() {
        if (pid <= 0) return;
        ::kill(pid, SIGTERM);
        int st = 0;
        // valgrind needs a while to write its profile.
        for (int i = 0; i < 1500 && waitpid(pid, &st, WNOHANG) == 0; ++i) std::this_thread::sleep_for(20ms);
        if (waitpid(pid, &st, WNOHANG) == 0) {
            ::kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
    }
    /// The port of the first "listening on host:PORT" line.
    unsigned short port() const {
        for (int i = 0; i < 1500; ++i) {
            std::ifstream in(log);
            std::string line;
            while (std::getline(in, line))
                if (line.find("listening on") != std::string::npos)
                    return static_cast<unsigned short>(std::stoi(line.substr(line.rfind(':') + 1)));
            std::this_thread::sleep_for(20ms);
        }
        throw std::runtime_error("no 'listening on' line in " + log.string());
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
};

}  // namespace bench
