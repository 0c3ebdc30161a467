#include "common/process.hpp"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace blueprint::test {

ChildProcess ChildProcess::spawn(const std::string& path, const std::vector<std::string>& args,
                                 const ProcessOptions& options) {
    platform::ProcessOptions po;
    po.argv.reserve(args.size() + 1);
    po.argv.push_back(path);
    po.argv.insert(po.argv.end(), args.begin(), args.end());
    for (const auto& [name, value] : options.env) po.env.emplace(name, value);  // the first one wins
    po.unset_env = options.unset_env;
    po.clear_env = options.clear_env;
    po.cwd = options.cwd;
    po.pipe_stdin = options.pipe_stdin;
    po.pipe_stdout = options.pipe_stdout;
    po.pipe_stderr = options.pipe_stderr;
    po.new_process_group = false;
    auto child = platform::ChildProcess::spawn(po);
    if (!child) throw std::runtime_error(child.error().message);
    return ChildProcess(std::move(*child));
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
