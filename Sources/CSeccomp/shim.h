// Debian's libseccomp (libseccomp-dev): compiles a seccomp profile — rules by syscall
// name, argument comparisons — into the classic BPF program the kernel runs.
#include <seccomp.h>
