#ifndef TEST_ISOLATION_H
#define TEST_ISOLATION_H

/// 1 when the test process moved itself into a network namespace of its own at load
/// time (see test_isolation.c), 0 when it stayed in its parent's.
int test_isolation_own_network(void);

#endif
