// The tests run real containers, and from chapter 9 a container's default network is a
// bridge with NAT rules: a test that starts `scratch run` would add the bridge
// `scratch0`, veths and an nft table to the network of whoever ran `swift test`. So the
// test process leaves that network before any test runs: at load time, while it has
// one thread (unshare(2) moves only the calling thread, and threads made later inherit
// it), it makes a network namespace of its own with nothing but `lo`, up. Everything
// the tests start inherits it, so no test can touch the machine's links, addresses,
// routes or rules, whichever command ran the suite. Not root (unshare fails with EPERM)
// the tests that need root say so themselves; SCRATCH_TESTS_HOST_NETWORK=1 keeps the
// caller's network, for someone who means it.
#define _GNU_SOURCE
#include "TestIsolation.h"

#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int own_network = 0;

int test_isolation_own_network(void) { return own_network; }

__attribute__((constructor)) static void leave_the_machines_network(void) {
    const char *keep = getenv("SCRATCH_TESTS_HOST_NETWORK");
    if (keep != NULL && strcmp(keep, "1") == 0) return;
    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) return;
    own_network = 1;
    // A new network namespace's loopback starts down; the tests' containers in `host`
    // mode, and the stand-in host, expect 127.0.0.1 to answer.
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(sock, SIOCGIFFLAGS, &request) == 0) {
        request.ifr_flags |= IFF_UP;
        ioctl(sock, SIOCSIFFLAGS, &request);
    }
    close(sock);
}
