#include "server/workload/data_file.h"

#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace umcg_rpc::workload {
namespace {

TEST(DataFileTest, TemporaryFileHasTheAskedSizeAndStableContent) {
  auto a = DataFile::CreateTemporary(testing::TempDir(), 3 << 20);
  auto b = DataFile::CreateTemporary(testing::TempDir(), 3 << 20);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*a)->size(), 3u << 20);
  std::string x(4096, '\0'), y(4096, '\0');
  ASSERT_TRUE((*a)->ReadAt((2 << 20) + 5, {x.data(), x.size()}).ok());
  ASSERT_TRUE((*b)->ReadAt((2 << 20) + 5, {y.data(), y.size()}).ok());
  EXPECT_EQ(x, y);
  EXPECT_NE(x, std::string(4096, '\0'));
}

TEST(DataFileTest, ReadsUpToTheEndButNotPast) {
  auto file = DataFile::CreateTemporary(testing::TempDir(), 8192);
  ASSERT_TRUE(file.ok());
  std::string buf(192, '\0');
  EXPECT_TRUE((*file)->ReadAt(8000, {buf.data(), buf.size()}).ok());
  buf.resize(193);
  EXPECT_EQ((*file)->ReadAt(8000, {buf.data(), buf.size()}).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*file)->ReadAt(~uint64_t{0}, {buf.data(), 1}).code(),
            absl::StatusCode::kOutOfRange);
}

TEST(DataFileTest, OpensAnExistingFile) {
  const std::string path = testing::TempDir() + "/data_file_test.bin";
  std::ofstream(path) << "hello, world";
  auto file = DataFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->size(), 12u);
  std::string buf(5, '\0');
  ASSERT_TRUE((*file)->ReadAt(7, {buf.data(), buf.size()}).ok());
  EXPECT_EQ(buf, "world");
}

TEST(DataFileTest, MissingFileIsNotFound) {
  auto file = DataFile::Open(testing::TempDir() + "/no/such/file");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
}

TEST(DataFileTest, DirectoryIsRejected) {
  auto file = DataFile::Open(testing::TempDir());
  EXPECT_FALSE(file.ok());
}

}  // namespace
}  // namespace umcg_rpc::workload
