// probe (hostile): tries to reach outside the sandbox and reports what it could do.
//
// Input: ignored. Output: one line per attempt on stdout, "probe <what>: <result or error>\n":
//   fopen /etc/passwd, open ., getenv HOME, getenv PATH, one "probe env: NAME=VALUE" line per
//   environment variable (then "probe env count: <n>"), write fd 3/4/5, opendir /.
// Every failure is reported and the probe goes on; it exits 0.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char** environ;

static void Report(const char* what, const char* result) { printf("probe %s: %s\n", what, result); }

static void ReportErrno(const char* what) { Report(what, strerror(errno)); }

int main(void) {
  FILE* f = fopen("/etc/passwd", "r");
  if (f == NULL) {
    ReportErrno("fopen /etc/passwd");
  } else {
    char line[128];
    if (fgets(line, sizeof line, f) == NULL) line[0] = '\0';
    line[strcspn(line, "\n")] = '\0';
    printf("probe fopen /etc/passwd: opened, first line \"%s\"\n", line);
    fclose(f);
  }

  int fd = open(".", O_RDONLY);
  if (fd < 0) {
    ReportErrno("open .");
  } else {
    printf("probe open .: fd %d\n", fd);
    close(fd);
  }

  const char* names[] = {"HOME", "PATH"};
  for (int i = 0; i < 2; ++i) {
    const char* v = getenv(names[i]);
    printf("probe getenv %s: %s\n", names[i], v != NULL ? v : "(unset)");
  }

  int count = 0;
  for (char** e = environ; e != NULL && *e != NULL; ++e, ++count) Report("env", *e);
  printf("probe env count: %d\n", count);

  for (int target = 3; target <= 5; ++target) {
    char what[32];
    snprintf(what, sizeof what, "write fd %d", target);
    errno = 0;
    ssize_t w = write(target, "x", 1);
    if (w < 0) {
      ReportErrno(what);
    } else {
      printf("probe %s: wrote %d bytes\n", what, (int)w);
    }
  }

  DIR* dir = opendir("/");
  if (dir == NULL) {
    ReportErrno("opendir /");
  } else {
    int entries = 0;
    struct dirent* ent;
    while ((ent = readdir(dir)) != NULL) {
      if (entries++ < 8) printf("probe opendir / entry: %s\n", ent->d_name);
    }
    printf("probe opendir /: opened, %d entries\n", entries);
    closedir(dir);
  }
  return 0;
}
