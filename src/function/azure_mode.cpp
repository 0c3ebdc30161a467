// The Azure Functions custom-handler mode (ARCHITECTURE.md §9).
//
// Not implemented yet: this is the seam where the custom-handler server
// (HTTP on FUNCTIONS_CUSTOMHANDLER_PORT, /api/{function} with forwarding,
// the Data/Metadata envelope without) plugs in. run_http() is its base.
#include "function/modes.hpp"

#include <cstdio>
#include <string>

namespace blueprint::function::detail {

int run_azure(const Handler& /*handler*/, const ServeOptions& /*options*/, std::string_view port_text) {
    std::fprintf(stderr,
                 "blueprint::function::serve: FUNCTIONS_CUSTOMHANDLER_PORT is set (%s), but the Azure custom-handler "
                 "mode is not yet supported by this build\n",
                 std::string(port_text).c_str());
    return 2;
}

}  // namespace blueprint::function::detail
