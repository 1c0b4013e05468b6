import Runtime

/// Chapter 9's checks: the network namespace, the veth pair, the bridge, published
/// ports, and what is left after exit.
let chapter9Checks: [Check] = []
