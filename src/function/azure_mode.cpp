// The Azure Functions custom-handler mode (ARCHITECTURE.md §9): the HTTP
// server of http_mode.cpp on FUNCTIONS_CUSTOMHANDLER_PORT, with Azure's
// routes in front (azure_protocol.hpp): /api/{function} when the host
// forwards requests, the Data/Metadata envelope on /{function} when it does
// not. The host starts the handler and waits up to 60 s for the port to
// open, so nothing slow happens before listening.
#include "function/azure_protocol.hpp"
#include "function/modes.hpp"

#include <charconv>
#include <cstdio>
#include <string>

namespace blueprint::function::detail {

int run_azure(const Handler& handler, const ServeOptions& options, std::string_view port_text) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (port_text.empty() || ec != std::errc{} || ptr != port_text.data() + port_text.size() || value > 65535) {
        std::fprintf(stderr, "blueprint::function::serve: FUNCTIONS_CUSTOMHANDLER_PORT must be a port number 0-65535, got '%s'\n",
                     std::string(port_text).c_str());
        return 2;
    }
    HttpFront front;
    front.accept = [](std::string_view method, std::string_view target, const HttpFront::Header& header,
                      Bytes&& body) -> std::expected<HttpFront::Job, HttpReply> {
        auto job = accept_azure_request(method, target, header, std::move(body));
        if (!job) return std::unexpected(std::move(job.error()));
        HttpFront::Job out{job->route, std::move(job->parsed), {}};
        if (job->envelope) {
            out.finish = [](HttpReply reply) {
                AzureJob wrapper;
                wrapper.envelope = true;
                return finish_azure_reply(wrapper, std::move(reply));
            };
        }
        return out;
    };
    return run_http(handler, options, static_cast<unsigned short>(value), "azure", &front);
}

}  // namespace blueprint::function::detail
