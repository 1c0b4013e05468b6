#ifndef TEST_ISOLATION_H
#define TEST_ISOLATION_H

/// 1 when the test process moved itself into a network namespace of its own at load
/// time (see test_isolation.c), 0 when it stayed in its parent's.
int test_isolation_own_network(void);

/// The mount table's lock, one per test process: a test that mounts in the machine's
/// mount namespace (the Podman and containerd clients: their shm and rootfs mounts) takes
/// it exclusively, a test that judges the mount table (the lesson snippets: "it changed
/// the mount table") takes it shared, so neither sees the other's mounts come and go.
/// Returns the descriptor to give back to test_isolation_unlock_mount_table.
int test_isolation_lock_mount_table(int exclusive);
void test_isolation_unlock_mount_table(int descriptor);

#endif
