// libzip glue: deterministic writing, and reading untrusted archives with
// limits and zip-slip checks.
#include "zip.hpp"

#include <zip.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <set>

namespace blueprint::faas::packaging {
namespace detail {
namespace {

std::string libzip_message(zip_error_t* error) { return zip_error_strerror(error); }

// libzip converts an entry's time_t to a DOS date with localtime(), so ask
// mktime() for the time_t that is 1980-01-01 00:00 here: the stored DOS
// fields are then the same whatever the time zone.
std::time_t dos_epoch() {
    std::tm tm{};
    tm.tm_year = 80;
    tm.tm_mon = 0;
    tm.tm_mday = 1;
    tm.tm_isdst = -1;
    std::time_t t = std::mktime(&tm);
    return t == static_cast<std::time_t>(-1) ? std::time_t{315532800} : t;
}

struct SourceFree {
    void operator()(zip_source_t* s) const noexcept { zip_source_free(s); }
};
using SourcePtr = std::unique_ptr<zip_source_t, SourceFree>;

struct ArchiveDiscard {
    void operator()(zip_t* z) const noexcept { zip_discard(z); }
};
using ArchivePtr = std::unique_ptr<zip_t, ArchiveDiscard>;

struct FileClose {
    void operator()(zip_file_t* f) const noexcept { zip_fclose(f); }
};
using FilePtr = std::unique_ptr<zip_file_t, FileClose>;

}  // namespace

Error make_error(packaging_errc code, std::string message) { return Error{make_error_code(code), std::move(message)}; }

std::string unsafe_name_reason(std::string_view name) {
    if (name.empty()) return "empty entry name";
    if (name.find('\\') != std::string_view::npos) return "backslash in entry name '" + std::string(name) + "'";
    if (name.front() == '/') return "absolute entry name '" + std::string(name) + "'";
    if (name.size() >= 2 && name[1] == ':' &&
        ((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
        return "drive-letter entry name '" + std::string(name) + "'";
    std::size_t start = 0;
    while (start <= name.size()) {
        auto end = name.find('/', start);
        if (end == std::string_view::npos) end = name.size();
        if (name.substr(start, end - start) == "..")
            return "entry name '" + std::string(name) + "' has a '..' component (zip-slip)";
        start = end + 1;
    }
    return {};
}

std::expected<Bytes, Error> write_zip(std::span<const FileSpec> files) {
    zip_error_t zerr;
    zip_error_init(&zerr);
    SourcePtr out{zip_source_buffer_create(nullptr, 0, 0, &zerr)};
    if (!out) {
        auto msg = libzip_message(&zerr);
        zip_error_fini(&zerr);
        return std::unexpected(make_error(packaging_errc::zip_error, "creating the zip buffer: " + msg));
    }
    // The archive takes a reference on open; keep ours to read the result.
    ArchivePtr za{zip_open_from_source(out.get(), ZIP_TRUNCATE, &zerr)};
    if (!za) {
        auto msg = libzip_message(&zerr);
        zip_error_fini(&zerr);
        return std::unexpected(make_error(packaging_errc::zip_error, "opening the zip for writing: " + msg));
    }
    zip_error_fini(&zerr);
    zip_source_keep(out.get());

    const std::time_t mtime = dos_epoch();
    auto fail = [&](const std::string& what) {
        return std::unexpected(
            make_error(packaging_errc::zip_error, what + ": " + libzip_message(zip_get_error(za.get()))));
    };
    for (const auto& f : files) {
        zip_source_t* src = zip_source_buffer(za.get(), f.data.data(), f.data.size(), 0);
        if (!src) return fail("adding " + f.name);
        zip_int64_t idx = zip_file_add(za.get(), f.name.c_str(), src, ZIP_FL_ENC_UTF_8);
        if (idx < 0) {
            zip_source_free(src);
            return fail("adding " + f.name);
        }
        auto i = static_cast<zip_uint64_t>(idx);
        if (zip_set_file_compression(za.get(), i, ZIP_CM_DEFLATE, 0) != 0 ||
            zip_file_set_external_attributes(za.get(), i, 0, ZIP_OPSYS_UNIX, f.mode << 16) != 0 ||
            zip_file_set_mtime(za.get(), i, mtime, 0) != 0)
            return fail("setting attributes of " + f.name);
    }
    if (zip_close(za.get()) != 0) return fail("writing the zip");
    (void)za.release();  // zip_close freed it

    if (zip_source_open(out.get()) != 0)
        return std::unexpected(make_error(packaging_errc::zip_error,
                                          "reading the zip back: " + libzip_message(zip_source_error(out.get()))));
    Bytes bytes;
    zip_source_seek(out.get(), 0, SEEK_END);
    zip_int64_t size = zip_source_tell(out.get());
    zip_source_seek(out.get(), 0, SEEK_SET);
    if (size > 0) {
        bytes.resize(static_cast<std::size_t>(size));
        zip_int64_t got = zip_source_read(out.get(), bytes.data(), bytes.size());
        if (got != size) {
            zip_source_close(out.get());
            return std::unexpected(make_error(packaging_errc::zip_error, "reading the zip back: short read"));
        }
    }
    zip_source_close(out.get());
    return bytes;
}

}  // namespace detail

using detail::make_error;

std::expected<std::vector<ZipEntry>, Error> read_zip_entries(std::span<const std::uint8_t> zip,
                                                             const ReadLimits& limits) {
    using detail::ArchivePtr;
    using detail::FilePtr;
    using detail::SourcePtr;
    // libzip opens zero bytes as an empty archive; a zip has at least its
    // 22-byte end record.
    if (zip.empty()) return std::unexpected(make_error(packaging_errc::zip_error, "not a valid zip: no data"));
    zip_error_t zerr;
    zip_error_init(&zerr);
    SourcePtr src{zip_source_buffer_create(zip.data(), zip.size(), 0, &zerr)};
    if (!src) {
        auto msg = detail::libzip_message(&zerr);
        zip_error_fini(&zerr);
        return std::unexpected(make_error(packaging_errc::zip_error, "reading the zip: " + msg));
    }
    ArchivePtr za{zip_open_from_source(src.get(), ZIP_RDONLY | ZIP_CHECKCONS, &zerr)};
    if (!za) {
        auto msg = zip_error_code_zip(&zerr) == ZIP_ER_EXISTS ? std::string("it holds duplicate entry names")
                                                               : detail::libzip_message(&zerr);
        zip_error_fini(&zerr);
        return std::unexpected(make_error(packaging_errc::zip_error, "not a valid zip: " + msg));
    }
    zip_error_fini(&zerr);
    (void)src.release();  // owned by the archive now

    zip_int64_t count = zip_get_num_entries(za.get(), 0);
    if (count < 0) return std::unexpected(make_error(packaging_errc::zip_error, "cannot count the zip's entries"));
    if (static_cast<std::uint64_t>(count) > limits.max_entries)
        return std::unexpected(make_error(packaging_errc::too_large,
                                          "the zip has " + std::to_string(count) + " entries, over the limit of " +
                                              std::to_string(limits.max_entries)));

    std::vector<ZipEntry> entries;
    entries.reserve(static_cast<std::size_t>(count));
    std::set<std::string, std::less<>> seen;
    std::uint64_t total = 0;
    for (zip_uint64_t i = 0; i < static_cast<zip_uint64_t>(count); ++i) {
        const char* raw = zip_get_name(za.get(), i, ZIP_FL_ENC_RAW);
        if (!raw)
            return std::unexpected(make_error(packaging_errc::zip_error, "entry " + std::to_string(i) + " has no name"));
        ZipEntry entry;
        entry.name = raw;
        if (auto why = detail::unsafe_name_reason(entry.name); !why.empty())
            return std::unexpected(make_error(packaging_errc::zip_error, "unsafe zip entry: " + why));
        if (!seen.insert(entry.name).second)
            return std::unexpected(make_error(packaging_errc::zip_error, "duplicate zip entry '" + entry.name + "'"));

        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(za.get(), i, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
            return std::unexpected(make_error(packaging_errc::zip_error, "cannot stat zip entry '" + entry.name + "'"));
        // Checked against the declared size before inflating anything; the
        // read below also stops at that size, so a lying header can't help.
        if (st.size > limits.max_total_bytes - total)
            return std::unexpected(make_error(
                packaging_errc::too_large, "the zip's entries unpack to more than the limit of " +
                                               std::to_string(limits.max_total_bytes) + " bytes (at '" +
                                               entry.name + "')"));
        total += st.size;

        zip_uint8_t opsys = 0;
        zip_uint32_t attributes = 0;
        zip_file_get_external_attributes(za.get(), i, 0, &opsys, &attributes);
        const bool is_dir = entry.name.back() == '/';
        std::uint32_t unix_mode = opsys == ZIP_OPSYS_UNIX ? attributes >> 16 : 0;
        if (unix_mode == 0)
            entry.mode = is_dir ? 040755 : 0100644;
        else if ((unix_mode & 0170000) == 0)
            entry.mode = unix_mode | (is_dir ? 040000 : 0100000);
        else
            entry.mode = unix_mode;

        if (st.size > 0) {
            FilePtr file{zip_fopen_index(za.get(), i, 0)};
            if (!file)
                return std::unexpected(make_error(packaging_errc::zip_error,
                                                  "cannot open zip entry '" + entry.name +
                                                      "': " + detail::libzip_message(zip_get_error(za.get()))));
            entry.bytes.resize(static_cast<std::size_t>(st.size));
            std::size_t have = 0;
            while (true) {
                // Read one byte past the declared size so a mismatch and the
                // CRC check at the end of the data both surface here.
                std::uint8_t extra = 0;
                void* dst = have < entry.bytes.size() ? static_cast<void*>(entry.bytes.data() + have) : &extra;
                std::size_t want = have < entry.bytes.size() ? entry.bytes.size() - have : 1;
                zip_int64_t n = zip_fread(file.get(), dst, want);
                if (n < 0)
                    return std::unexpected(make_error(packaging_errc::zip_error,
                                                      "corrupt zip entry '" + entry.name + "': " +
                                                          detail::libzip_message(zip_file_get_error(file.get()))));
                if (n == 0) break;
                if (have >= entry.bytes.size())
                    return std::unexpected(make_error(packaging_errc::zip_error,
                                                      "zip entry '" + entry.name + "' is longer than its header says"));
                have += static_cast<std::size_t>(n);
            }
            if (have != entry.bytes.size())
                return std::unexpected(make_error(packaging_errc::zip_error,
                                                  "zip entry '" + entry.name + "' is shorter than its header says"));
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

}  // namespace blueprint::faas::packaging
