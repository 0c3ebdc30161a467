// Unpacking an untrusted zip into a directory: every path is walked with
// openat(O_NOFOLLOW) from the target directory, so neither "..", absolute
// names nor a symlink planted in the directory can send a write elsewhere.
#include "zip.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace blueprint::faas::packaging {

using detail::make_error;

namespace {

class Fd {
public:
    explicit Fd(int fd = -1) noexcept : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~Fd() { reset(); }
    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    int fd_;
};

std::unexpected<Error> io_fail(const std::string& what, int err) {
    return std::unexpected(make_error(packaging_errc::io_error, what + ": " + std::strerror(err)));
}

std::vector<std::string> components(std::string_view name) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < name.size()) {
        auto end = name.find('/', start);
        if (end == std::string_view::npos) end = name.size();
        auto part = name.substr(start, end - start);
        if (!part.empty() && part != ".") out.emplace_back(part);
        start = end + 1;
    }
    return out;
}

// Opens (creating when missing) the directory `parts` below `root`.
std::expected<Fd, Error> open_dirs(int root, std::span<const std::string> parts, const std::string& entry) {
    Fd current{::fcntl(root, F_DUPFD_CLOEXEC, 0)};
    if (!current) return io_fail("dup", errno);
    for (const auto& part : parts) {
        if (::mkdirat(current.get(), part.c_str(), 0755) != 0 && errno != EEXIST)
            return io_fail("creating folder '" + part + "' for '" + entry + "'", errno);
        Fd next{::openat(current.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
        if (!next) return io_fail("opening folder '" + part + "' for '" + entry + "' (a symlink?)", errno);
        current = std::move(next);
    }
    return current;
}

}  // namespace

std::expected<void, Error> extract_zip(std::span<const std::uint8_t> zip, const std::filesystem::path& dir,
                                       const ReadLimits& limits) {
    auto entries = read_zip_entries(zip, limits);
    if (!entries) return std::unexpected(entries.error());
    for (const auto& e : *entries) {
        auto type = e.mode & 0170000;
        if (type != 0100000 && type != 040000)
            return std::unexpected(make_error(packaging_errc::zip_error,
                                              "zip entry '" + e.name + "' is not a regular file or folder (mode " +
                                                  std::to_string(e.mode) + "); symlinks are refused"));
        if (type == 0100000 && e.name.back() == '/')
            return std::unexpected(
                make_error(packaging_errc::zip_error, "zip entry '" + e.name + "' is a file named like a folder"));
    }

    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return std::unexpected(make_error(packaging_errc::io_error, "creating '" + dir.string() + "': " + ec.message()));
    Fd root{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (!root) return io_fail("opening '" + dir.string() + "'", errno);

    for (const auto& e : *entries) {
        auto parts = components(e.name);
        if (parts.empty()) continue;  // "./" and the like
        const bool is_dir = (e.mode & 0170000) == 040000;
        auto parents = std::span<const std::string>(parts).first(is_dir ? parts.size() : parts.size() - 1);
        auto parent = open_dirs(root.get(), parents, e.name);
        if (!parent) return std::unexpected(parent.error());
        if (is_dir) continue;

        // Only permission bits: no setuid/setgid/sticky from an archive.
        mode_t perms = e.mode & 0777;
        if (perms == 0) perms = 0644;
        Fd out{::openat(parent->get(), parts.back().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                        perms)};
        if (!out) return io_fail("creating '" + e.name + "' in '" + dir.string() + "'", errno);
        std::size_t done = 0;
        while (done < e.bytes.size()) {
            auto n = ::write(out.get(), e.bytes.data() + done, e.bytes.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                return io_fail("writing '" + e.name + "'", errno);
            }
            done += static_cast<std::size_t>(n);
        }
        // The umask may have cleared bits at create time; an existing file
        // keeps its old mode through O_TRUNC. Set exactly what was archived.
        if (::fchmod(out.get(), perms) != 0) return io_fail("chmod '" + e.name + "'", errno);
    }
    return {};
}

}  // namespace blueprint::faas::packaging
