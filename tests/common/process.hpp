// Child processes for tests: the one implementation in
// src/platform/process.hpp (ChildProcess with pipes, pidfd waits,
// communicate, ExitStatus), in the tests' call style: spawn(path, args,
// options) that throws when the binary cannot be started, an ordered
// environment list, and pipes on by default. Plus build_path() to find the
// binaries of this build tree.
#pragma once

#include "platform/process.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace blueprint::test {

using platform::ExitStatus;

struct ProcessOptions {
    /// Variables to set (NAME, value) on top of the inherited environment;
    /// the first of two same names wins, as with getenv on a doubled entry.
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

/// platform::ChildProcess with a throwing spawn: a test that cannot start its
/// binary has nothing left to check. The child stays in our process group,
/// so a test runner killed by Ctrl-C takes it along.
class ChildProcess : public platform::ChildProcess {
public:
    /// An empty handle: no process.
    ChildProcess() = default;
    explicit ChildProcess(platform::ChildProcess&& child) noexcept : platform::ChildProcess(std::move(child)) {}

    /// Starts `path` with `args` (not including argv[0]). Throws
    /// std::runtime_error if it cannot be started (e.g. no such file).
    static ChildProcess spawn(const std::string& path, const std::vector<std::string>& args = {},
                              const ProcessOptions& options = {});
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
