// fs_probe: exercises the WASI filesystem through wasi-libc and prints what each call did.
//
// Mounts it expects: /data read-only holding in.txt ("hello from data\n") and dir/ with a.txt
// and b.txt; /work writable holding log.txt; an output directory /out. Input: ignored.
// Output: one line per step on stdout, "<step>: <result>", where a failure prints
// "errno <n>" (WASI errno numbers, which wasi-libc uses as its errno values). It leaves
// /out/sub/result.txt, /out/link (-> sub/result.txt) and /out/moved.txt behind, and exits 0.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void Result(const char* step, int rc) {
  if (rc < 0) {
    printf("%s: errno %d\n", step, errno);
  } else {
    printf("%s: ok\n", step);
  }
}

static void ReadFile(const char* step, const char* path) {
  char buf[256];
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    Result(step, fd);
    return;
  }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 0) {
    Result(step, -1);
    return;
  }
  for (ssize_t i = 0; i < n; ++i) {
    if (buf[i] == '\0') buf[i] = '.';
    if (buf[i] == '\n') buf[i] = '|';
  }
  buf[n] = '\0';
  printf("%s: %zd bytes \"%s\"\n", step, n, buf);
}

static void List(const char* step, const char* path) {
  DIR* dir = opendir(path);
  if (dir == NULL) {
    Result(step, -1);
    return;
  }
  printf("%s:", step);
  struct dirent* e;
  while ((e = readdir(dir)) != NULL) printf(" %s", e->d_name);
  printf("\n");
  closedir(dir);
}

int main(void) {
  ReadFile("read /data/in.txt", "/data/in.txt");
  Result("open /data/in.txt for writing", open("/data/in.txt", O_WRONLY));
  Result("create /data/new", open("/data/new", O_CREAT | O_WRONLY, 0644));
  Result("mkdir /data/d", mkdir("/data/d", 0755));
  Result("open /data/../etc/passwd", open("/data/../etc/passwd", O_RDONLY));
  Result("open /data/missing", open("/data/missing", O_RDONLY));
  Result("open /data/in.txt/", open("/data/in.txt/", O_RDONLY));
  List("list /data/dir", "/data/dir");

  Result("mkdir /out/sub", mkdir("/out/sub", 0755));
  Result("mkdir /out/sub again", mkdir("/out/sub", 0755));
  int fd = open("/out/sub/result.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
  Result("create /out/sub/result.txt", fd);
  Result("write", (int)write(fd, "sum=42\n", 7));
  printf("seek past the end: %lld\n", (long long)lseek(fd, 4, SEEK_END));
  Result("write after the gap", (int)write(fd, "end\n", 4));
  close(fd);
  Result("create it again with O_EXCL",
         open("/out/sub/result.txt", O_CREAT | O_EXCL | O_WRONLY, 0644));
  ReadFile("read it back", "/out/sub/result.txt");
  struct stat st;
  if (stat("/out/sub/result.txt", &st) == 0) {
    // The modification time comes from the job's clock: virtual (fuel-driven) by default, so
    // it is the same on every engine and node.
    printf("stat: size %lld nlink %llu regular %d mtime %lld.%09ld\n", (long long)st.st_size,
           (unsigned long long)st.st_nlink, S_ISREG(st.st_mode) ? 1 : 0,
           (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
  }
  Result("symlink /out/link", symlink("sub/result.txt", "/out/link"));
  char target[64];
  ssize_t n = readlink("/out/link", target, sizeof target - 1);
  if (n >= 0) target[n] = '\0';
  printf("readlink: %s\n", n >= 0 ? target : "failed");
  ReadFile("read through the link", "/out/link");
  Result("symlink out of the sandbox", symlink("/etc/passwd", "/out/evil"));
  Result("hard link", link("/out/sub/result.txt", "/out/hard.txt"));
  if (stat("/out/hard.txt", &st) == 0) printf("nlink: %llu\n", (unsigned long long)st.st_nlink);
  Result("rename", rename("/out/hard.txt", "/out/moved.txt"));
  int dir = open("/out/sub", O_RDONLY | O_DIRECTORY);
  fd = openat(dir, "side.txt", O_CREAT | O_WRONLY, 0644);
  Result("openat below an opened directory", (int)write(fd, "s", 1));
  close(fd);
  Result("unlink it again", unlinkat(dir, "side.txt", 0));
  close(dir);
  Result("rmdir a full directory", rmdir("/out/sub"));
  Result("unlink a directory", unlink("/out/sub"));
  Result("unlink a missing file", unlink("/out/nothing"));

  fd = open("/work/log.txt", O_WRONLY | O_APPEND);
  Result("append to /work/log.txt", (int)write(fd, "more\n", 5));
  close(fd);
  ReadFile("read /work/log.txt", "/work/log.txt");
  Result("unlink /work/log.txt", unlink("/work/log.txt"));
  List("list /work", "/work");
  List("list /out", "/out");
  return 0;
}
