// _GNU_SOURCE lives here, never in the public header (see clinux.h).
#define _GNU_SOURCE
#include "clinux.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <termios.h>
#include <sys/signalfd.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string.h>

// The child's stack. mmap reserves address space only; pages are touched lazily, so
// a generous size costs nothing until the Swift code in the child uses it.
#define CL_STACK_SIZE (8 * 1024 * 1024)

pid_t cl_clone(cl_child_fn fn, void *arg, int flags) {
    void *stack = mmap(NULL, CL_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return -1;
    // Stacks grow down on every architecture Swift runs on Linux: pass the top.
    void *top = (char *)stack + CL_STACK_SIZE;
    pid_t pid = clone(fn, top, flags | SIGCHLD, arg);
    int saved = errno;
    // The child has its own copy of the mapping (no CLONE_VM); the parent's is unused.
    munmap(stack, CL_STACK_SIZE);
    errno = saved;
    return pid;
}

int cl_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int cl_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int cl_set_parent_death_signal(int signal) { return prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0); }

long cl_filesystem_magic(const char *path) {
    struct statfs info;
    if (statfs(path, &info) != 0) return -1;
    return (long)info.f_type;
}

int cl_signalfd(const sigset_t *mask) { return signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK); }

int cl_read_signalfd(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n != (ssize_t)sizeof info) return -1;
    return (int)info.ssi_signo;
}

int cl_setns(int fd, int nstype) { return setns(fd, nstype); }

int cl_signal_count(void) { return NSIG; }

int cl_default_signal(int signal) {
    // The kernel's struct sigaction: handler, flags, restorer, mask (8 bytes).
    struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } action = {0};
    return (int)syscall(SYS_rt_sigaction, signal, &action, NULL, sizeof action.mask);
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
int cl_cloexec_from_3(void) { return (int)syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC); }

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
int cl_openat2(int dirfd, const char *path, int flags, unsigned long long resolve) {
    struct open_how how = {.flags = (unsigned long long)flags, .mode = 0, .resolve = resolve};
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
int cl_make_mount_tree_read_only(int fd) {
    // struct mount_attr (linux/mount.h, which clashes with glibc's sys/mount.h).
    struct { uint64_t attr_set, attr_clr, propagation, userns_fd; } attr = {.attr_set = 0x00000001 /* MOUNT_ATTR_RDONLY */};
    return (int)syscall(SYS_mount_setattr, fd, "", 0x1000 /* AT_EMPTY_PATH */ | 0x8000 /* AT_RECURSIVE */, &attr, sizeof attr);
}

int cl_set_mount_tree_attributes(int fd, unsigned long long set, unsigned long long clear) {
    struct { uint64_t attr_set, attr_clr, propagation, userns_fd; } attr = {.attr_set = set, .attr_clr = clear};
    return (int)syscall(SYS_mount_setattr, fd, "", 0x1000 /* AT_EMPTY_PATH */ | 0x8000 /* AT_RECURSIVE */, &attr, sizeof attr);
}

long cl_mount_flags(int fd) {
    struct statvfs info;
    if (fstatvfs(fd, &info) != 0) return -1;
    return (long)info.f_flag;
}

int cl_wifexited(int status) { return WIFEXITED(status); }
int cl_wexitstatus(int status) { return WEXITSTATUS(status); }
int cl_wifsignaled(int status) { return WIFSIGNALED(status); }
int cl_wtermsig(int status) { return WTERMSIG(status); }

// Chapter 7 — least privilege.

int cl_capget(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) == -1) return -1;
    *effective = (uint64_t)data[1].effective << 32 | data[0].effective;
    *permitted = (uint64_t)data[1].permitted << 32 | data[0].permitted;
    *inheritable = (uint64_t)data[1].inheritable << 32 | data[0].inheritable;
    return 0;
}

int cl_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {
        {(uint32_t)effective, (uint32_t)permitted, (uint32_t)inheritable},
        {(uint32_t)(effective >> 32), (uint32_t)(permitted >> 32), (uint32_t)(inheritable >> 32)},
    };
    return (int)syscall(SYS_capset, &header, data);
}

int cl_bounding_drop(int cap) { return prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); }
int cl_ambient_clear(void) { return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); }
int cl_ambient_raise(int capability) { return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capability, 0, 0); }
int cl_set_keep_capabilities(void) { return prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0); }
int cl_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
int cl_set_dumpable(int dumpable) { return prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0); }

int cl_seccomp_load(const void *instructions, unsigned short count) {
    struct sock_fprog program = {count, (struct sock_filter *)instructions};
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program);
}

int cl_unshare(int flags) { return unshare(flags); }

int cl_attach_device_program(int cgroup_fd, const void *instructions, unsigned count, char *log, unsigned log_size) {
    union bpf_attr load;
    memset(&load, 0, sizeof load);
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insns = (uint64_t)(uintptr_t)instructions;
    load.insn_cnt = count;
    load.license = (uint64_t)(uintptr_t)"GPL";
    load.log_buf = (uint64_t)(uintptr_t)log;
    load.log_size = log_size;
    load.log_level = log_size > 0 ? 1 : 0;
    int program = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
    if (program < 0) return -1;
    union bpf_attr attach;
    memset(&attach, 0, sizeof attach);
    attach.target_fd = (uint32_t)cgroup_fd;
    attach.attach_bpf_fd = (uint32_t)program;
    attach.attach_type = BPF_CGROUP_DEVICE;
    attach.attach_flags = BPF_F_ALLOW_MULTI;
    if (syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof attach) < 0) {
        int saved = errno;
        close(program);
        errno = saved;
        return -1;
    }
    return program;
}

int cl_prlimit(int pid, int resource, unsigned long long soft, unsigned long long hard) {
    struct rlimit limit = {.rlim_cur = soft, .rlim_max = hard};
    return prlimit(pid, resource, &limit, NULL);
}

int cl_connect_unix(const char *path) {
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(address.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) return -1;
    if (connect(fd, (struct sockaddr *)&address, sizeof(address)) == -1) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int cl_send_fd(int socket, int fd, const char *name) {
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof(control));
    struct iovec part = {.iov_base = (void *)name, .iov_len = strlen(name)};
    struct msghdr message = {.msg_iov = &part, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &fd, sizeof(int));
    ssize_t sent;
    do { sent = sendmsg(socket, &message, 0); } while (sent == -1 && errno == EINTR);
    return sent == -1 ? -1 : 0;
}

int cl_open_pty(char *name, unsigned size) {
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master == -1) return -1;
    if (unlockpt(master) == -1 || ptsname_r(master, name, size) != 0) {
        int saved = errno;
        close(master);
        errno = saved;
        return -1;
    }
    return master;
}

int cl_set_window_size(int fd, unsigned short rows, unsigned short columns) {
    struct winsize size = {.ws_row = rows, .ws_col = columns};
    return ioctl(fd, TIOCSWINSZ, &size);
}

int cl_set_controlling_terminal(int fd) { return ioctl(fd, TIOCSCTTY, 0); }

int cl_pidfd_open(int pid) { return (int)syscall(434 /* SYS_pidfd_open */, pid, 0); }
