// The "blueprint.packaging" error category.
#include <blueprint/faas/packaging.hpp>

namespace blueprint::faas::packaging {
namespace {

class packaging_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "blueprint.packaging"; }
    std::string message(int ev) const override {
        switch (static_cast<packaging_errc>(ev)) {
        case packaging_errc::binary_missing: return "the function binary does not exist";
        case packaging_errc::not_executable: return "the function binary is not executable";
        case packaging_errc::too_large: return "over a package size limit";
        case packaging_errc::io_error: return "a file could not be read or written";
        case packaging_errc::zip_error: return "the zip could not be written or is invalid or unsafe";
        case packaging_errc::invalid_job: return "the job list is invalid";
        }
        return "unknown packaging error";
    }
};

}  // namespace

const boost::system::error_category& packaging_category() noexcept {
    static const packaging_category_impl cat;
    return cat;
}

}  // namespace blueprint::faas::packaging
