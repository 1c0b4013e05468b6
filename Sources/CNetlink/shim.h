// Debian's libnl-route-3 (libnl-route-3-dev): rtnetlink messages — links, addresses,
// routes — built and sent for us, so chapter 9 speaks to the kernel as `ip` does
// without running it.
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <netlink/route/neighbour.h>
