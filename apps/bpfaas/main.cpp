// bpfaas: run, deploy and inspect Blueprint FaaS jobs.
#include "cli.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <vector>

namespace bpfaas {

blueprint::LogSink spdlog_sink() {
    return [](blueprint::LogLevel level, std::string_view message) {
        using L = blueprint::LogLevel;
        switch (level) {
            case L::trace: spdlog::trace("{}", message); break;
            case L::debug: spdlog::debug("{}", message); break;
            case L::info: spdlog::info("{}", message); break;
            case L::warn: spdlog::warn("{}", message); break;
            case L::error: spdlog::error("{}", message); break;
            case L::off: break;
        }
    };
}

}  // namespace bpfaas

int main(int argc, char** argv) {
    // Logs go to stderr so that stdout stays machine-readable.
    spdlog::set_default_logger(spdlog::stderr_color_mt("bpfaas"));
    spdlog::set_pattern("%^[%l]%$ %v");

    CLI::App app{"bpfaas: run Blueprint jobs on serverless platforms"};
    app.require_subcommand(1);
    std::string log_level = "warn";
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();

    std::vector<std::pair<CLI::App*, bpfaas::Action>> verbs;
    auto add = [&](auto adder) {
        auto before = app.get_subcommands({}).size();
        auto action = adder(app);
        verbs.emplace_back(app.get_subcommands({})[before], std::move(action));
    };
    add(bpfaas::add_demo);
    add(bpfaas::add_invoke);
    add(bpfaas::add_local);
    add(bpfaas::add_bench);
    add(bpfaas::add_package);
    add(bpfaas::add_deploy);
    add(bpfaas::add_health);
    add(bpfaas::add_warm);
    add(bpfaas::add_undeploy);
    add(bpfaas::add_list);
    add(bpfaas::add_aws);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    spdlog::set_level(spdlog::level::from_str(log_level));
    for (auto& [sub, action] : verbs)
        if (sub->parsed()) {
            try {
                return action();
            } catch (const std::exception& e) {
                std::cerr << "bpfaas: " << e.what() << "\n";
                return 1;
            }
        }
    return 1;
}
