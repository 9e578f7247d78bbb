// dir_sum: walks the tree mounted at /data (or argv[1]) in sorted order and writes, to
// /out/summary.txt (or argv[2]/summary.txt), one line per regular file: its path, its size and
// the sum of its bytes; then the totals. Symlinks are listed with their target, not followed.
// stdout gets the totals line. Deterministic: same tree, same bytes, on every node.
//
//   mesh submit dir_sum.wasm --mount ./data:/data --output-dir /out --wait
//   mesh output JOB --dir ./result
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static FILE* out;
static unsigned long long total_files, total_bytes, total_sum;

static int by_name(const void* a, const void* b) {
  return strcmp(*(const char* const*)a, *(const char* const*)b);
}

static int walk(const char* dir, const char* rel) {
  DIR* d = opendir(dir);
  if (d == NULL) {
    fprintf(stderr, "dir_sum: cannot open %s: %s\n", dir, strerror(errno));
    return 1;
  }
  char** names = NULL;
  size_t count = 0, cap = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (count == cap) {
      cap = cap ? cap * 2 : 16;
      names = realloc(names, cap * sizeof(char*));
      if (names == NULL) return 1;
    }
    names[count++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, count, sizeof(char*), by_name);  // listings are sorted anyway: be sure
  int rc = 0;
  for (size_t i = 0; i < count && rc == 0; ++i) {
    char path[4096], shown[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
    snprintf(shown, sizeof(shown), "%s%s%s", rel, *rel ? "/" : "", names[i]);
    struct stat st;
    if (lstat(path, &st) != 0) {
      fprintf(stderr, "dir_sum: cannot stat %s: %s\n", path, strerror(errno));
      rc = 1;
    } else if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = readlink(path, target, sizeof(target) - 1);
      target[n < 0 ? 0 : n] = '\0';
      fprintf(out, "%s -> %s\n", shown, target);
    } else if (S_ISDIR(st.st_mode)) {
      fprintf(out, "%s/\n", shown);
      rc = walk(path, shown);
    } else {
      FILE* f = fopen(path, "rb");
      if (f == NULL) {
        fprintf(stderr, "dir_sum: cannot open %s: %s\n", path, strerror(errno));
        rc = 1;
      } else {
        unsigned long long size = 0, sum = 0;
        unsigned char buf[8192];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
          for (size_t k = 0; k < n; ++k) sum += buf[k];
          size += n;
        }
        fclose(f);
        fprintf(out, "%s %llu %llu\n", shown, size, sum);
        ++total_files;
        total_bytes += size;
        total_sum += sum;
      }
    }
  }
  for (size_t i = 0; i < count; ++i) free(names[i]);
  free(names);
  return rc;
}

int main(int argc, char** argv) {
  const char* in = argc > 1 ? argv[1] : "/data";
  const char* out_dir = argc > 2 ? argv[2] : "/out";
  char summary[4096];
  snprintf(summary, sizeof(summary), "%s/summary.txt", out_dir);
  out = fopen(summary, "w");
  if (out == NULL) {
    fprintf(stderr, "dir_sum: cannot create %s: %s\n", summary, strerror(errno));
    return 2;
  }
  int rc = walk(in, "");
  fprintf(out, "total: %llu files, %llu bytes, sum %llu\n", total_files, total_bytes, total_sum);
  if (fclose(out) != 0) {
    fprintf(stderr, "dir_sum: cannot write %s: %s\n", summary, strerror(errno));
    return 2;
  }
  printf("%llu files, %llu bytes, sum %llu\n", total_files, total_bytes, total_sum);
  return rc;
}
