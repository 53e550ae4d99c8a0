/* SPDX-License-Identifier: Apache-2.0 */
/* Two small netlink facilities, by hand-built messages (no libmnl/libnl, no
 * ip or nft binaries): counting the nf_tables ruleset (to refuse a host whose
 * firewall lives in nftables) and the policy routing TPROXY needs
 * (struct route_op from rules.h) over rtnetlink.
 *
 * Everything works in the calling thread's network namespace, opens one
 * SOCK_CLOEXEC netlink socket per call, checks every ack, sequence number
 * and sender, and never logs: results are 1 (changed), 0 (already so) or a
 * negative errno. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

/* Count the rules in the current network namespace's nf_tables ruleset, all
 * families (an NFT_MSG_GETRULE dump with NFPROTO_UNSPEC), and the tables
 * (NFT_MSG_GETTABLE dump).  0 or -errno; -EPROTONOSUPPORT when nf_tables is
 * not available in this kernel (then the host cannot have nft rules),
 * -EAGAIN when the ruleset kept changing during the dumps.  iptables-legacy
 * rules live in x_tables and are not counted. */
int nft_ruleset_count(unsigned *tables, unsigned *rules);

/* Apply one op over rtnetlink in the current netns.  Idempotent: returns 1
 * when it changed something, 0 when an identical rule/route/address was
 * already there (EEXIST, or found by a dump for rules, which the kernel
 * happily duplicates), negative errno otherwise: -EINVAL (bad op: family,
 * prefix, device name, fwmark or table 0), -ENODEV (no such device),
 * -EEXIST (a different rule/route/address is in the way, e.g. the same
 * address with another prefix length), -ENETDOWN (IPv6 route on a device
 * that is down). */
int route_op_apply(const struct route_op *op);

/* Remove it: 1 removed (for rules: every identical copy), 0 was not there
 * (also when its device does not exist), negative errno. */
int route_op_remove(const struct route_op *op);

/* Bring an interface up (IFF_UP via RTM_NEWLINK): 1 changed, 0 already up,
 * -ENODEV if missing, -EINVAL for an empty or too long name.  The IPv6
 * local route needs lo up first. */
int link_set_up(const char *ifname);

/* The parsing half of the rule lookup, exposed for tests: scan one received
 * datagram (len bytes at buf, any alignment) of replies to RTM_GETRULE dump
 * request seq from socket portid, adding to *found the rules identical to op
 * ("fwmark op->fwmark lookup op->table", nothing else).  Messages for other
 * requests are skipped.  Returns 1 when the datagram ended the dump, 0 when
 * more datagrams follow, or a negative errno: the dump's own error, -EBADMSG
 * for a malformed message or attribute.  Never reads outside buf[0..len). */
int rule_dump_parse(const void *buf, size_t len, uint32_t seq, uint32_t portid,
		    const struct route_op *op, unsigned *found);
