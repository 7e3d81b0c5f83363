#include "server/workload/data_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "runtime/blocking.h"
#include "runtime/io.h"

namespace umcg_rpc::workload {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path,
                        int err) {
  return absl::ErrnoToStatus(err, absl::StrCat(what, " ", path));
}

absl::Status WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "writing the data file");
    data += n;
    len -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DataFile>> DataFile::Open(
    const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("cannot open data file", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    return ErrnoError("cannot stat data file", path, errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("data file ", path, " is not a regular file"));
  }
  return absl::WrapUnique(
      new DataFile(std::move(fd), static_cast<uint64_t>(st.st_size), path));
}

absl::StatusOr<std::unique_ptr<DataFile>> DataFile::CreateTemporary(
    const std::string& dir, uint64_t size) {
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    // Not every file system has O_TMPFILE: fall back to create + unlink.
    std::string name = absl::StrCat(dir, "/umcg-rpc-data-XXXXXX");
    fd.Reset(::mkostemp(name.data(), O_CLOEXEC));
    if (!fd.valid()) {
      return ErrnoError("cannot create a data file in", dir, errno);
    }
    ::unlink(name.c_str());
  }
  // Deterministic content, so a client can precompute read checksums.
  std::vector<char> chunk(1 << 20);
  uint64_t x = 0x853c49e6748fea9bULL;
  for (uint64_t written = 0; written < size;) {
    size_t len =
        static_cast<size_t>(std::min<uint64_t>(chunk.size(), size - written));
    for (size_t i = 0; i < len; ++i) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      chunk[i] = static_cast<char>(x >> 56);
    }
    if (absl::Status s = WriteAll(fd.get(), chunk.data(), len); !s.ok()) {
      return s;
    }
    written += len;
  }
  return absl::WrapUnique(new DataFile(
      std::move(fd), size,
      absl::StrCat("temporary file in ", dir, " (", size, " bytes)")));
}

absl::Status DataFile::ReadAt(uint64_t offset, std::span<char> buffer) const {
  if (offset > size_ || buffer.size() > size_ - offset) {
    return absl::OutOfRangeError(
        absl::StrCat("read of ", buffer.size(), " bytes at offset ", offset,
                     " passes the end of the data file (", size_, " bytes)"));
  }
  size_t done = 0;
  while (done < buffer.size()) {
    size_t n = 0;
    if (runtime::OnWorker()) {
      // io_uring, with the worker's CPU released while the read waits.
      absl::StatusOr<size_t> read =
          runtime::ReadAt(fd_.get(), buffer.data() + done, buffer.size() - done,
                          static_cast<off_t>(offset + done));
      if (!read.ok()) return read.status();
      n = *read;
    } else {
      ssize_t r = ::pread(fd_.get(), buffer.data() + done, buffer.size() - done,
                          static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return absl::ErrnoToStatus(errno, "pread of the data file");
      n = static_cast<size_t>(r);
    }
    if (n == 0) {
      return absl::InternalError(
          absl::StrCat("data file shrank: end of file at ", offset + done));
    }
    done += n;
  }
  return absl::OkStatus();
}

}  // namespace umcg_rpc::workload
