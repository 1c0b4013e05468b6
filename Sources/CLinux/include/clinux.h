// The C side of the runtime: only what Swift cannot call directly.
//
// Everything here carries the `cl_` prefix, so a reader of the Swift code sees at
// once where a call crosses into C. Keep this file a page or two.
//
// Note: no `#define _GNU_SOURCE` in this header. It would clash with Swift's own
// Glibc module (`fd_set` defined twice on a clean build). The constants Glibc hides
// without it are restated here from the kernel's ABI, which never changes them.
#ifndef CLINUX_H
#define CLINUX_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

// clone(2) flags: which namespaces a new process gets (linux/sched.h).
#define CL_CLONE_NEWNS     0x00020000  // mount namespace (chapter 3)
#define CL_CLONE_NEWCGROUP 0x02000000  // cgroup namespace (chapter 4)
#define CL_CLONE_NEWUTS    0x04000000  // hostname and domain name (chapter 1)
#define CL_CLONE_NEWIPC    0x08000000  // System V IPC, POSIX queues
#define CL_CLONE_NEWUSER   0x10000000  // user and group ids (chapter 8)
#define CL_CLONE_NEWPID    0x20000000  // process ids (chapter 2)
#define CL_CLONE_NEWNET    0x40000000  // network stack (chapter 9)

// mount(2) flags (linux/mount.h) that Swift's Glibc does not show.
#define CL_MS_RDONLY      0x00000001
#define CL_MS_NOSUID      0x00000002
#define CL_MS_NODEV       0x00000004
#define CL_MS_NOEXEC      0x00000008
#define CL_MS_REMOUNT     0x00000020
#define CL_MS_BIND        0x00001000
#define CL_MS_MOVE        0x00002000
#define CL_MS_REC         0x00004000
#define CL_MS_PRIVATE     0x00040000
#define CL_MS_SLAVE       0x00080000
#define CL_MS_SHARED      0x00100000
#define CL_MNT_DETACH     0x00000002

// open(2)'s O_PATH (a descriptor that names a file without opening it for I/O).
#define CL_O_PATH         010000000

// The function a cloned child runs. It must not return: it execs or exits.
typedef int (*cl_child_fn)(void *arg);

// clone(2) through glibc's wrapper: the child starts in `fn(arg)` on a fresh stack,
// in the namespaces `flags` asks for, and sends SIGCHLD to the parent when it exits.
// Without CLONE_VM the child has its own copy of memory, like fork(2), so Swift code
// in it sees the parent's values as they were at the call. Returns the child's pid
// (as the parent sees it) or -1 with errno set.
pid_t cl_clone(cl_child_fn fn, void *arg, int flags);

// pivot_root(2) has no glibc wrapper.
int cl_pivot_root(const char *new_root, const char *put_old);

// pipe2(2) with O_CLOEXEC, which Swift's Glibc hides behind _GNU_SOURCE.
int cl_pipe_cloexec(int fds[2]);

// prctl(PR_SET_PDEATHSIG): the kernel signals us when our parent dies.
int cl_set_parent_death_signal(int signal);

// statfs(2)'s f_type for `path` (the filesystem's magic number, linux/magic.h), or -1
// with errno set. Swift's Glibc module does not include <sys/vfs.h>.
long cl_filesystem_magic(const char *path);

// signalfd(2) with SFD_CLOEXEC: a descriptor that becomes readable when one of the
// (blocked) signals in `mask` is pending. Swift's Glibc does not include
// <sys/signalfd.h>. Returns the descriptor or -1 with errno set.
int cl_signalfd(const sigset_t *mask);

// Reads one pending signal from a signalfd: its number, or -1 with errno set (EAGAIN
// when none is pending and the descriptor is non-blocking).
int cl_read_signalfd(int fd);

// setns(2): join the namespace `fd` refers to (/proc/PID/ns/KIND). `nstype` is a
// CL_CLONE_NEW* flag, or 0 for "whatever kind fd is".
int cl_setns(int fd, int nstype);

// Marks every descriptor from 3 up close-on-exec (close_range(2), Linux 5.11), so the
// command starts with standard input, output and error only. Returns 0 or -1.
int cl_cloexec_from_3(void);

// Sets `signal`'s action back to the default with the raw rt_sigaction(2): glibc's
// sigaction refuses the two real-time signals it keeps for itself (32 and 33), which
// a caller may still have left ignored. Returns 0 or -1.
int cl_default_signal(int signal);

// The number of signals the kernel has (NSIG, 65 on Linux: 1–64 and the unused 0).
int cl_signal_count(void);

// Chapter 6's volumes: path lookups that stay inside a rootfs.
// openat2(2)'s `resolve` flags (linux/openat2.h).
#define CL_RESOLVE_NO_MAGICLINKS 0x02  // no /proc/PID/fd/N-style jumps
#define CL_RESOLVE_IN_ROOT       0x10  // `dirfd` is `/`: `..` and absolute symlinks stay under it
// open(2)'s O_PATH (a handle on a place in the tree, nothing read), hidden by Glibc.
#define CL_O_PATH 010000000

// openat2(2) (Linux 5.6; no glibc wrapper): opens `path` relative to `dirfd` with
// `flags` (O_*) and `resolve` (CL_RESOLVE_*). Returns the descriptor or -1 with errno.
int cl_openat2(int dirfd, const char *path, int flags, unsigned long long resolve);

// mount_setattr(2) (Linux 5.12) on the mount `fd` is the root of, with AT_EMPTY_PATH,
// and AT_RECURSIVE: MOUNT_ATTR_RDONLY on it and every mount below it. Returns 0 or -1
// with errno set (ENOSYS on older kernels).
int cl_make_mount_tree_read_only(int fd);

// mount_setattr(2) with AT_RECURSIVE: sets the MOUNT_ATTR_* bits in `set` and clears
// those in `clear` on the mount `fd` is the root of and every mount below it.
int cl_set_mount_tree_attributes(int fd, unsigned long long set, unsigned long long clear);

// The mount flags of the mount `fd` is on, as fstatvfs(2) reports them (the ST_*
// bits below, which Glibc shows only with _GNU_SOURCE), or -1 with errno set.
#define CL_ST_RDONLY 0x0001
#define CL_ST_NOSUID 0x0002
#define CL_ST_NODEV  0x0004
#define CL_ST_NOEXEC 0x0008
long cl_mount_flags(int fd);

// The wait(2) status macros are macros, which Swift cannot import.
int cl_wifexited(int status);
int cl_wexitstatus(int status);
int cl_wifsignaled(int status);
int cl_wtermsig(int status);

// Chapter 7 — least privilege.

// capget(2)/capset(2) for this process, version 3 (two 32-bit words per set: bits
// 0–31, then 32–63). glibc has no wrapper (libcap has one; we need no library for two
// syscalls). Returns 0 or -1 with errno set.
int cl_capget(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable);
int cl_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable);

// prctl(PR_CAPBSET_DROP, cap): needs CAP_SETPCAP in the effective set; -1 with EINVAL
// past the last capability this kernel knows.
int cl_bounding_drop(int cap);
// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL).
int cl_ambient_clear(void);
// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capability): the capability must be in
// the permitted and inheritable sets already.
int cl_ambient_raise(int capability);
// prctl(PR_SET_NO_NEW_PRIVS, 1): execve can no longer grant privileges (setuid bits,
// file capabilities). One way: no call turns it off again.
int cl_set_no_new_privs(void);
// prctl(PR_SET_KEEPCAPS, 1): a change of uid away from 0 keeps the permitted set.
int cl_set_keep_capabilities(void);
// prctl(PR_SET_DUMPABLE, 1 or 0): with 1, /proc/PID of this process (and of its clones)
// belongs to its own user again after a change of user, which sets it to root's; with
// 0, /proc/PID/exe and the like are out of reach of the same user (execve resets it).
int cl_set_dumpable(int dumpable);
// seccomp(SECCOMP_SET_MODE_FILTER, 0, prog) with an already compiled classic-BPF program
// of `count` 8-byte instructions (struct sock_filter). Returns 0 or -1.
int cl_seccomp_load(const void *instructions, unsigned short count);
// unshare(2), which Swift's Glibc hides behind _GNU_SOURCE.
int cl_unshare(int flags);
// bpf(2): a BPF_PROG_TYPE_CGROUP_DEVICE program of `count` 8-byte eBPF instructions,
// loaded (log into `log` on failure) and attached to the cgroup directory `cgroup_fd`
// (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI). Returns the program's fd or -1 with errno.
int cl_attach_device_program(int cgroup_fd, const void *instructions, unsigned count, char *log, unsigned log_size);

// prlimit(2): set resource `resource` of process `pid` (chapter 10's process.rlimits,
// set by `create` from outside before the container goes on). 0, or -1 with errno.
int cl_prlimit(int pid, int resource, unsigned long long soft, unsigned long long hard);

// Chapter 10's console socket: connect(2) to the unix socket at `path` (a descriptor,
// close-on-exec, or -1 with errno); send descriptor `fd` over `socket` with
// SCM_RIGHTS, `name` as the message's bytes (runc sends the pty's name so). 0 or -1.
int cl_connect_unix(const char *path);
int cl_send_fd(int socket, int fd, const char *name);
// A new pseudo-terminal from /dev/ptmx: the master (close-on-exec) and the slave's path
// in `name` (`size` bytes). The master's descriptor, or -1 with errno.
int cl_open_pty(char *name, unsigned size);
// TIOCSWINSZ and TIOCSCTTY on `fd`.
int cl_set_window_size(int fd, unsigned short rows, unsigned short columns);
int cl_set_controlling_terminal(int fd);

// pidfd_open(2) (Linux 5.3): a descriptor that polls readable once process `pid` has
// ended (a zombie counts), whoever its parent is. -1 with errno.
int cl_pidfd_open(int pid);

#endif
