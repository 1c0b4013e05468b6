// Debian's libnftables (libnftables-dev): the library inside nft(8). It takes the same
// rule language as text and sends one netlink transaction, all or nothing.
#include <nftables/libnftables.h>
