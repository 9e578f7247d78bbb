// tree: walks a directory tree and prints what it holds, like `find DIR -printf`. Shows a C
// program using the WASI filesystem through wasi-libc (opendir, readdir, lstat, readlink).
//
// Args: [DIR] (default /data). Entries are printed in name order, each directory before what it
// holds: "d <path>/", "f <path> <size> <checksum>" (the checksum: FNV-1a 64 of the bytes, hex)
// or "l <path> -> <target>"; then "tree: <dirs> dirs, <files> files, <bytes> bytes".
// Exit 1 on an error, naming the path and the reason (strerror).
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { kMaxPath = 4096, kMaxEntries = 4096 };

static unsigned long g_dirs, g_files;
static unsigned long long g_bytes;

static int Fail(const char* what, const char* path) {
  fprintf(stderr, "tree: %s %s: %s\n", what, path, strerror(errno));
  return 1;
}

static int Checksum(const char* path, uint64_t* sum) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) return Fail("cannot open", path);
  uint64_t h = 1469598103934665603ull;
  unsigned char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    for (size_t i = 0; i < n; ++i) h = (h ^ buf[i]) * 1099511628211ull;
  }
  const int bad = ferror(f);
  fclose(f);
  if (bad) return Fail("cannot read", path);
  *sum = h;
  return 0;
}

static int CompareNames(const void* a, const void* b) {
  return strcmp(*(char* const*)a, *(char* const*)b);
}

static int Walk(const char* dir) {
  DIR* d = opendir(dir);
  if (d == NULL) return Fail("cannot open directory", dir);
  char* names[kMaxEntries];
  size_t count = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (count == kMaxEntries) {
      fprintf(stderr, "tree: %s holds more than %d entries\n", dir, kMaxEntries);
      closedir(d);
      return 1;
    }
    names[count++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, count, sizeof names[0], CompareNames);
  int rc = 0;
  for (size_t i = 0; i < count && rc == 0; ++i) {
    char path[kMaxPath];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    struct stat st;
    if (lstat(path, &st) != 0) {
      rc = Fail("cannot stat", path);
    } else if (S_ISDIR(st.st_mode)) {
      ++g_dirs;
      printf("d %s/\n", path);
      rc = Walk(path);
    } else if (S_ISLNK(st.st_mode)) {
      char target[kMaxPath];
      const ssize_t n = readlink(path, target, sizeof target - 1);
      if (n < 0) {
        rc = Fail("cannot read link", path);
      } else {
        target[n] = '\0';
        printf("l %s -> %s\n", path, target);
      }
    } else {
      uint64_t sum = 0;
      rc = Checksum(path, &sum);
      if (rc == 0) {
        ++g_files;
        g_bytes += (unsigned long long)st.st_size;
        printf("f %s %lld %016llx\n", path, (long long)st.st_size, (unsigned long long)sum);
      }
    }
  }
  for (size_t i = 0; i < count; ++i) free(names[i]);
  return rc;
}

int main(int argc, char** argv) {
  const char* root = argc > 1 ? argv[1] : "/data";
  const int rc = Walk(root);
  if (rc == 0) printf("tree: %lu dirs, %lu files, %llu bytes\n", g_dirs, g_files, g_bytes);
  return rc;
}
