// The project's file writer seen from the file system and from a concurrent reader: modes whatever the umask, a key
// never readable by others even while being written, a set of files that switches as one, and the stamp that tells
// a re-reader a file changed.
#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/files.hpp"

using namespace azwi;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {
class Files : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("azwi-files-" + std::to_string(::getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
    old_umask = ::umask(0);
  }
  void TearDown() override {
    ::umask(old_umask);
    fs::remove_all(dir);
  }
  static unsigned mode_of(const fs::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? st.st_mode & 07777 : 0xffff;
  }
  fs::path dir;
  mode_t old_umask = 0;
};
}  // namespace

TEST_F(Files, AFileIsReadWholeAndAnUnreadableOneSaysWhyInErrno) {
  std::string content(200'000, 'x');
  content += "\n\0end";
  write_file_atomically(dir / "f", content);
  EXPECT_EQ(read_file(dir / "f"), content);
  write_file_atomically(dir / "empty", "");
  EXPECT_EQ(read_file(dir / "empty"), "");
  errno = 0;
  EXPECT_EQ(read_file(dir / "missing"), std::nullopt);
  EXPECT_EQ(errno, ENOENT);
  errno = 0;
  EXPECT_EQ(read_file(dir), std::nullopt);  // a directory opens but cannot be read
  EXPECT_EQ(errno, EISDIR);
}

TEST_F(Files, AReplacedFileHasTheModeAskedForWhateverTheUmask) {
  for (mode_t mask : {0000, 0077, 0022}) {
    ::umask(mask);
    write_file_atomically(dir / "public", "p", 0644);
    write_file_atomically(dir / "key", "k", 0600);
    EXPECT_EQ(mode_of(dir / "public"), 0644u) << mask;
    EXPECT_EQ(mode_of(dir / "key"), 0600u) << mask;
  }
  write_file_atomically(dir / "key", "second", 0600);
  EXPECT_EQ(read_file(dir / "key"), "second");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);  // no temporary file left
}

TEST_F(Files, AKeyIsNeverReadableByOthersEvenWhileBeingWritten) {
  // The temporary file is looked at the moment it appears, while 32 MiB are still being written into it.
  int in = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  ASSERT_GE(in, 0);
  ASSERT_GE(::inotify_add_watch(in, dir.c_str(), IN_CREATE), 0);
  std::string big(32 << 20, 'k');
  int seen = 0;
  for (int attempt = 0; attempt < 5 && seen == 0; ++attempt) {
    std::thread writer([&] { write_file_atomically(dir / "tls.key", big, 0644); });
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (seen == 0 && std::chrono::steady_clock::now() < deadline) {
      pollfd p{in, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      alignas(inotify_event) char buf[4096];
      ssize_t n = ::read(in, buf, sizeof buf);
      for (ssize_t off = 0; off < n;) {
        auto* e = reinterpret_cast<inotify_event*>(buf + off);
        std::string name = e->len ? e->name : "";
        if (name.find(".tmp-") != std::string::npos) {
          unsigned m = mode_of(dir / name);
          if (m != 0xffff) {
            EXPECT_EQ(m & 0077, 0u) << std::oct << m;  // the umask is 0: only the writer's own mode protects it
            ++seen;
          }
        }
        off += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
      }
    }
    writer.join();
  }
  ::close(in);
  EXPECT_GT(seen, 0) << "the temporary file was never seen";
  EXPECT_EQ(mode_of(dir / "tls.key"), 0644u);  // the mode asked for, once complete
}

TEST_F(Files, FilesWrittenTogetherAreLinksIntoOneGenerationAsInASecretVolume) {
  write_file_atomically(dir / "tls.crt", "old layout", 0644);  // a regular file from an earlier version
  EXPECT_TRUE(write_files_together(dir, {{"tls.crt", "cert 1", 0644}, {"tls.key", "key 1", 0600}}));
  EXPECT_TRUE(fs::is_symlink(dir / "..data"));
  EXPECT_TRUE(fs::is_symlink(dir / "tls.crt"));
  EXPECT_EQ(fs::read_symlink(dir / "tls.key"), fs::path("..data/tls.key"));
  EXPECT_EQ(read_file(dir / "tls.crt"), "cert 1");
  EXPECT_EQ(read_file(dir / "tls.key"), "key 1");
  EXPECT_EQ(mode_of(dir / "tls.key"), 0600u);
  auto first = fs::read_symlink(dir / "..data");
  EXPECT_TRUE(first.string().starts_with("..")) << first;

  EXPECT_FALSE(write_files_together(dir, {{"tls.crt", "cert 1", 0644}, {"tls.key", "key 1", 0600}}));
  EXPECT_EQ(fs::read_symlink(dir / "..data"), first);  // nothing rewritten

  EXPECT_TRUE(write_files_together(dir, {{"tls.crt", "cert 2", 0644}, {"tls.key", "key 2", 0600}}));
  EXPECT_NE(fs::read_symlink(dir / "..data"), first);
  EXPECT_FALSE(fs::exists(dir / first));  // the earlier generation is gone
  EXPECT_EQ(read_file(dir / "tls.key"), "key 2");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 4);  // ..data, one generation, two links
  EXPECT_THROW(write_files_together(dir, {{"../x", "", 0644}}), std::invalid_argument);
}

TEST_F(Files, AReaderFollowingTheLinksNeverSeesFilesOfTwoGenerations) {
  write_files_together(dir, {{"a", "0", 0644}, {"b", "0", 0600}});
  std::atomic<bool> done{false};
  std::atomic<int> pairs{0}, mixed{0};
  std::thread reader([&] {
    while (!done) {
      std::error_code ec;
      auto generation = fs::canonical(dir / "a", ec).parent_path();
      if (ec) continue;
      auto a = read_file(generation / "a"), b = read_file(generation / "b");
      if (!a || !b) continue;  // that generation was removed meanwhile
      ++pairs;
      if (*a != *b) ++mixed;
    }
  });
  for (int i = 1; i <= 300; ++i) {
    std::string n = std::to_string(i);
    write_files_together(dir, {{"a", n, 0644}, {"b", n, 0600}});
  }
  done = true;
  reader.join();
  EXPECT_GT(pairs.load(), 0);
  EXPECT_EQ(mixed.load(), 0);
  EXPECT_EQ(read_file(dir / "b"), "300");
}

TEST_F(Files, AFileStampChangesWithEveryKindOfReplacementAndOnlyThen) {
  const fs::path file = dir / "ca.crt";
  EXPECT_FALSE(file_stamp(file)) << "no file yet";
  write_file_atomically(file, "one\n");
  auto stamp = file_stamp(file);
  ASSERT_TRUE(stamp);
  EXPECT_EQ(file_stamp(file), stamp) << "nothing changed";
  { std::ifstream(file).get(); }
  EXPECT_EQ(file_stamp(file), stamp) << "reading is no change";

  // Each step below changes the file in one way; the stamp must see each. The file system's clock ticks every few
  // milliseconds: the pauses keep two writes of the same size from sharing a time.
  auto changed = [&](const char* what) {
    auto now = file_stamp(file);
    EXPECT_TRUE(now) << what;
    EXPECT_NE(now, stamp) << what;
    stamp = now;
    std::this_thread::sleep_for(20ms);
  };
  std::this_thread::sleep_for(20ms);
  { std::ofstream(file, std::ios::in | std::ios::out) << "two"; }  // in place, same size, same inode
  changed("rewritten in place");
  write_file_atomically(file, "two\n");  // same content, a new inode by rename
  changed("replaced by rename");
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  changed("chmod");
  EXPECT_EQ(file_stamp(file), stamp);

  // Through links, as a Secret volume is read: the stamp is that of the file the links lead to, and a switch of
  // ..data to a file of the same size is a change.
  const fs::path mounted = dir / "volume" / "ca.crt";
  write_files_together(dir / "volume", {{"ca.crt", "three\n"}});
  auto before = file_stamp(mounted);
  ASSERT_TRUE(before);
  EXPECT_EQ(before, file_stamp(fs::canonical(mounted)));
  write_files_together(dir / "volume", {{"ca.crt", "THREE\n"}});
  EXPECT_NE(file_stamp(mounted), before);
  fs::remove(file);
  EXPECT_FALSE(file_stamp(file)) << "gone";
}
