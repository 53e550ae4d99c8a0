/* SPDX-License-Identifier: Apache-2.0 */
/* Hand-built netlink: nf_tables ruleset counting (NETLINK_NETFILTER) and
 * TPROXY policy routing (NETLINK_ROUTE).
 *
 * One socket per public call.  Every request carries NLM_F_ACK and a fresh
 * sequence number; a request ends with its ack (NLMSG_ERROR) or, for dumps,
 * NLMSG_DONE, whose error is returned.  Replies are only taken from the
 * kernel (sender port 0) and only when their sequence number and port match
 * the request.  Received bytes are never cast to structs: headers and
 * attributes are length-checked and copied out, so a malformed or
 * misaligned reply gives -EBADMSG, not an out-of-bounds read. */
#include "netlink.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/fib_rules.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

#define NL_RECV_MAX 32768      /* the kernel's largest dump datagram */
#define NL_REQ_MAX 256         /* our largest request is < 100 bytes */
#define NL_TIMEOUT_SEC 10      /* the kernel answers at once; guards against bugs */
#define NL_DUMP_TRIES 8        /* restarts of a dump interrupted by a change */
#define RULE_REMOVE_MAX 256    /* identical copies of a rule we delete */
#define RULE_MASK_ALL 0xffffffffu

/* ---- socket -------------------------------------------------------------- */

struct nl {
	int fd;
	uint32_t portid;
	uint32_t seq;
};

static void nl_closep(struct nl *nl) { closep(&nl->fd); }
#define _cleanup_nl_ __attribute__((cleanup(nl_closep)))

static int nl_open(struct nl *nl, int protocol)
{
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
	if (nl->fd < 0)
		return -errno;
	struct timeval tv = { .tv_sec = NL_TIMEOUT_SEC };
	if (setsockopt(nl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	if (bind(nl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	socklen_t sl = sizeof(sa);
	if (getsockname(nl->fd, (struct sockaddr *)&sa, &sl) < 0)
		return -errno;
	if (sl != sizeof(sa) || sa.nl_family != AF_NETLINK)
		return -EPROTO;
	nl->portid = sa.nl_pid;
	nl->seq = 0;
	return 0;
}

/* ---- requests ------------------------------------------------------------ */

/* The message is built in raw; its header is written through req_hdr().
 * (A union with struct nlmsghdr makes gcc 12's object-size checks under
 * -fsanitize think attributes are written into nlmsg_len.) */
struct nl_req {
	_Alignas(struct nlmsghdr) uint8_t raw[NL_REQ_MAX];
	bool overflow;
};

static struct nlmsghdr *req_hdr(struct nl_req *req)
{
	return (struct nlmsghdr *)(void *)req->raw;
}

/* Start a request of type with flags (NLM_F_REQUEST|NLM_F_ACK are added on
 * sending) and the family header hdr. */
static void req_init(struct nl_req *req, uint16_t type, uint16_t flags, const void *hdr, size_t len)
{
	memset(req, 0, sizeof(*req));
	req_hdr(req)->nlmsg_type = type;
	req_hdr(req)->nlmsg_flags = flags;
	req_hdr(req)->nlmsg_len = NLMSG_LENGTH(len);
	memcpy(req->raw + NLMSG_HDRLEN, hdr, len);
}

static void req_put(struct nl_req *req, uint16_t type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(req_hdr(req)->nlmsg_len);
	if (len > sizeof(req->raw) || off + NLA_ALIGN(NLA_HDRLEN + len) > sizeof(req->raw)) {
		req->overflow = true;
		return;
	}
	struct nlattr a = { .nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = type };
	uint8_t *at = req->raw + off;
	memcpy(at, &a, sizeof(a));
	memcpy(at + NLA_HDRLEN, data, len);
	req_hdr(req)->nlmsg_len = (uint32_t)(off + NLA_ALIGN(NLA_HDRLEN + len));
}

static void req_put_u32(struct nl_req *req, uint16_t type, uint32_t v)
{
	req_put(req, type, &v, sizeof(v));
}

/* ---- replies ------------------------------------------------------------- */

/* Called for each data message of the request: its header (a copy) and
 * payload (plen bytes, any alignment).  Negative return aborts. */
typedef int (*nl_msg_fn)(const struct nlmsghdr *h, const uint8_t *p, size_t plen, void *userdata);

struct nl_wait {
	uint32_t seq, portid;
	nl_msg_fn fn;
	void *userdata;
	bool intr;     /* NLM_F_DUMP_INTR: the dump saw a change, restart it */
	int status;    /* the ack's or NLMSG_DONE's error, once finished */
};

/* One datagram.  1 when the request finished (w->status set), 0 when more
 * is to come, negative errno for a malformed datagram or a callback error. */
static int nl_parse(struct nl_wait *w, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		struct nlmsghdr h;
		if (len < sizeof(h))
			return -EBADMSG;
		memcpy(&h, buf, sizeof(h));
		if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len)
			return -EBADMSG;
		const uint8_t *p = buf + NLMSG_HDRLEN;
		size_t plen = h.nlmsg_len - NLMSG_HDRLEN;
		size_t adv = NLMSG_ALIGN(h.nlmsg_len);
		if (adv > len)
			adv = len;
		buf += adv;
		len -= adv;

		if (h.nlmsg_seq != w->seq || h.nlmsg_pid != w->portid)
			continue;  /* not a reply to this request */
		if (h.nlmsg_flags & NLM_F_DUMP_INTR)
			w->intr = true;
		int32_t err = 0;
		switch (h.nlmsg_type) {
		case NLMSG_NOOP:
			break;
		case NLMSG_ERROR:
			if (plen < sizeof(struct nlmsgerr))
				return -EBADMSG;
			/* fall through */
		case NLMSG_DONE:
			/* NLMSG_DONE carries the dump's error when it has a payload. */
			if (plen >= sizeof(err))
				memcpy(&err, p, sizeof(err));
			if (err > 0 || err < -4095)
				return -EBADMSG;
			w->status = err;
			return 1;
		case NLMSG_OVERRUN:
			return -ENOBUFS;
		default:
			if (w->fn) {
				int r = w->fn(&h, p, plen, w->userdata);
				if (r < 0)
					return r;
			}
			break;
		}
	}
	return 0;
}

/* Send req and read its replies until the ack (or NLMSG_DONE), passing
 * data messages to fn.  Returns the kernel's error for the request (0 on
 * success) or a local error.  *intr (if given) tells of NLM_F_DUMP_INTR. */
static int nl_transact(struct nl *nl, struct nl_req *req, nl_msg_fn fn, void *userdata, bool *intr)
{
	if (req->overflow)
		return -EMSGSIZE;
	struct nlmsghdr *nh = req_hdr(req);
	nh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nh->nlmsg_seq = ++nl->seq;
	nh->nlmsg_pid = 0;

	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	ssize_t n;
	do
		n = sendto(nl->fd, nh, nh->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != nh->nlmsg_len)
		return -EIO;

	struct nl_wait w = { .seq = nh->nlmsg_seq, .portid = nl->portid, .fn = fn, .userdata = userdata };
	static _Thread_local union {
		struct nlmsghdr nh;  /* alignment */
		uint8_t b[NL_RECV_MAX];
	} buf;
	for (;;) {
		struct sockaddr_nl from;
		struct iovec iov = { .iov_base = buf.b, .iov_len = sizeof(buf.b) };
		struct msghdr m = {
			.msg_name = &from, .msg_namelen = sizeof(from),
			.msg_iov = &iov, .msg_iovlen = 1,
		};
		n = recvmsg(nl->fd, &m, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -ETIMEDOUT;
			return -errno;
		}
		if (m.msg_flags & MSG_TRUNC)
			return -EMSGSIZE;
		if (m.msg_namelen != sizeof(from) || from.nl_family != AF_NETLINK || from.nl_pid != 0)
			continue;  /* only the kernel answers requests */
		int r = nl_parse(&w, buf.b, (size_t)n);
		if (r < 0)
			return r;
		if (r > 0) {
			if (intr)
				*intr = w.intr;
			return w.status;
		}
	}
}

/* A dump, restarted while the kernel flags it as interrupted by a change;
 * reset (if given) clears userdata before each attempt.  -EAGAIN when it
 * never completes undisturbed. */
static int nl_dump(struct nl *nl, struct nl_req *req, nl_msg_fn fn, void *userdata,
		   void (*reset)(void *userdata))
{
	for (unsigned i = 0; i < NL_DUMP_TRIES; i++) {
		if (reset)
			reset(userdata);
		bool intr = false;
		int r = nl_transact(nl, req, fn, userdata, &intr);
		if (r < 0)
			return r;
		if (!intr)
			return 0;
	}
	return -EAGAIN;
}

/* Attribute iteration over p[0..len): 1 with type, data and dlen set, 0 at
 * the end, -EBADMSG when an attribute does not fit. */
struct attr_iter {
	const uint8_t *p;
	size_t left;
};

static int attr_next(struct attr_iter *it, uint16_t *type, const uint8_t **data, size_t *dlen)
{
	if (it->left == 0)
		return 0;
	struct nlattr a;
	if (it->left < sizeof(a))
		return -EBADMSG;
	memcpy(&a, it->p, sizeof(a));
	if (a.nla_len < NLA_HDRLEN || a.nla_len > it->left)
		return -EBADMSG;
	*type = a.nla_type & NLA_TYPE_MASK;
	*data = it->p + NLA_HDRLEN;
	*dlen = a.nla_len - NLA_HDRLEN;
	size_t adv = NLA_ALIGN(a.nla_len);
	if (adv > it->left)
		adv = it->left;
	it->p += adv;
	it->left -= adv;
	return 1;
}

/* Attributes after a family header of hdrlen bytes in payload p[0..plen). */
static struct attr_iter attrs_after(const uint8_t *p, size_t plen, size_t hdrlen)
{
	size_t off = NLMSG_ALIGN(hdrlen);
	if (off > plen)
		off = plen;
	return (struct attr_iter){ .p = p + off, .left = plen - off };
}

static int attr_u32(const uint8_t *data, size_t dlen, uint32_t *v)
{
	if (dlen != sizeof(*v))
		return -EBADMSG;
	memcpy(v, data, sizeof(*v));
	return 0;
}

/* ---- checks -------------------------------------------------------------- */

static size_t family_addr_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

static int ifname_check(const char *ifname)
{
	if (!ifname)
		return -EINVAL;
	size_t n = strnlen(ifname, IFNAMSIZ);
	return n == 0 || n >= IFNAMSIZ ? -EINVAL : 0;
}

static int route_op_check(const struct route_op *op)
{
	if (!op)
		return -EINVAL;
	size_t alen = family_addr_len(op->family);
	if (!alen)
		return -EINVAL;
	switch (op->kind) {
	case ROUTE_OP_RULE:
		/* fwmark 0 would match every packet; table 0 is "unspecified" */
		return op->fwmark && op->table ? 0 : -EINVAL;
	case ROUTE_OP_ROUTE:
		if (!op->table)
			return -EINVAL;
		/* fall through */
	case ROUTE_OP_ADDR:
		if (op->prefix.family != op->family || op->prefix.prefix > alen * 8)
			return -EINVAL;
		return ifname_check(op->dev);
	}
	return -EINVAL;
}

/* ---- links --------------------------------------------------------------- */

struct link_info {
	int index;
	unsigned flags;
	bool seen;
};

static int link_msg(const struct nlmsghdr *h, const uint8_t *p, size_t plen, void *userdata)
{
	struct link_info *li = userdata;
	struct ifinfomsg ifi;
	if (h->nlmsg_type != RTM_NEWLINK)
		return 0;
	if (plen < sizeof(ifi))
		return -EBADMSG;
	memcpy(&ifi, p, sizeof(ifi));
	li->index = ifi.ifi_index;
	li->flags = ifi.ifi_flags;
	li->seen = true;
	return 0;
}

/* Index and flags of ifname: 0, -ENODEV, -EINVAL. */
static int link_get(struct nl *nl, const char *ifname, struct link_info *li)
{
	int r = ifname_check(ifname);
	if (r < 0)
		return r;
	struct nl_req req;
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	req_init(&req, RTM_GETLINK, 0, &ifi, sizeof(ifi));
	req_put(&req, IFLA_IFNAME, ifname, strlen(ifname) + 1);
	req_put_u32(&req, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	*li = (struct link_info){ 0 };
	r = nl_transact(nl, &req, link_msg, li, NULL);
	if (r < 0)
		return r;
	return li->seen && li->index > 0 ? 0 : -EPROTO;
}

int link_set_up(const char *ifname)
{
	_cleanup_nl_ struct nl nl = { .fd = -1 };
	int r = ifname_check(ifname);
	if (r < 0)
		return r;
	r = nl_open(&nl, NETLINK_ROUTE);
	if (r < 0)
		return r;
	struct link_info li;
	r = link_get(&nl, ifname, &li);
	if (r < 0)
		return r;
	if (li.flags & IFF_UP)
		return 0;
	struct nl_req req;
	struct ifinfomsg ifi = {
		.ifi_family = AF_UNSPEC, .ifi_index = li.index,
		.ifi_flags = IFF_UP, .ifi_change = IFF_UP,
	};
	req_init(&req, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	r = nl_transact(&nl, &req, NULL, NULL, NULL);
	return r < 0 ? r : 1;
}

/* ---- rules --------------------------------------------------------------- */

/* Identical copies of op's rule seen in a dump; prio of the first one. */
struct rule_scan {
	const struct route_op *op;
	unsigned found;
	uint32_t prio;
};

static void rule_scan_reset(void *userdata)
{
	struct rule_scan *s = userdata;
	s->found = 0;
	s->prio = 0;
}

static int rule_msg(const struct nlmsghdr *h, const uint8_t *p, size_t plen, void *userdata)
{
	struct rule_scan *s = userdata;
	struct fib_rule_hdr frh;
	if (h->nlmsg_type != RTM_NEWRULE)
		return 0;
	if (plen < sizeof(frh))
		return -EBADMSG;
	memcpy(&frh, p, sizeof(frh));

	uint32_t table = frh.table, mark = 0, mask = RULE_MASK_ALL, prio = 0, suppress = UINT32_MAX;
	bool has_mark = false, other = false;
	struct attr_iter it = attrs_after(p, plen, sizeof(frh));
	uint16_t type;
	const uint8_t *d;
	size_t dlen;
	int r;
	while ((r = attr_next(&it, &type, &d, &dlen)) > 0) {
		switch (type) {
		case FRA_TABLE:
			r = attr_u32(d, dlen, &table);
			break;
		case FRA_FWMARK:
			r = attr_u32(d, dlen, &mark);
			has_mark = true;
			break;
		case FRA_FWMASK:
			r = attr_u32(d, dlen, &mask);
			break;
		case FRA_PRIORITY:
			r = attr_u32(d, dlen, &prio);
			break;
		case FRA_SUPPRESS_PREFIXLEN:  /* dumped always; -1 is unset */
		case FRA_SUPPRESS_IFGROUP:
			r = attr_u32(d, dlen, &suppress);
			if (suppress != UINT32_MAX)
				other = true;
			break;
		case FRA_PROTOCOL:  /* who added it, not what it does */
		case FRA_PAD:
			break;
		default:            /* a selector or action parameter we never set */
			other = true;
			break;
		}
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;

	const struct route_op *op = s->op;
	if (frh.family != op->family || frh.action != FR_ACT_TO_TBL || frh.dst_len || frh.src_len ||
	    frh.tos || (frh.flags & FIB_RULE_INVERT) || other || table != op->table ||
	    !has_mark || mark != op->fwmark || mask != RULE_MASK_ALL)
		return 0;
	if (s->found++ == 0)
		s->prio = prio;
	return 0;
}

int rule_dump_parse(const void *buf, size_t len, uint32_t seq, uint32_t portid,
		    const struct route_op *op, unsigned *found)
{
	if (!op || !found || (!buf && len))
		return -EINVAL;
	struct rule_scan s = { .op = op };
	struct nl_wait w = { .seq = seq, .portid = portid, .fn = rule_msg, .userdata = &s };
	int r = nl_parse(&w, buf, len);
	*found += s.found;
	if (r <= 0)
		return r;
	return w.status < 0 ? w.status : 1;
}

/* RTM_{NEW,DEL}RULE "fwmark M/0xffffffff lookup T" (and "pref P" if prio). */
static void rule_req(struct nl_req *req, uint16_t type, uint16_t flags, const struct route_op *op,
		     const uint32_t *prio)
{
	struct fib_rule_hdr frh = {
		.family = (uint8_t)op->family,
		.table = op->table < 256 ? (uint8_t)op->table : RT_TABLE_UNSPEC,
		.action = FR_ACT_TO_TBL,
	};
	req_init(req, type, flags, &frh, sizeof(frh));
	if (prio)
		req_put_u32(req, FRA_PRIORITY, *prio);
	req_put_u32(req, FRA_FWMARK, op->fwmark);
	req_put_u32(req, FRA_FWMASK, RULE_MASK_ALL);
	req_put_u32(req, FRA_TABLE, op->table);
}

static int rule_lookup(struct nl *nl, const struct route_op *op, struct rule_scan *s)
{
	struct nl_req req;
	struct fib_rule_hdr frh = { .family = (uint8_t)op->family };
	req_init(&req, RTM_GETRULE, NLM_F_DUMP, &frh, sizeof(frh));
	*s = (struct rule_scan){ .op = op };
	return nl_dump(nl, &req, rule_msg, s, rule_scan_reset);
}

/* The kernel assigns a priority when none is given, and with NLM_F_EXCL
 * only refuses a rule some existing rule matches in the fields we set (a
 * check older kernels lack), so look first; an EEXIST for a rule the dump
 * does not show means a broader rule is in the way. */
static int rule_apply(struct nl *nl, const struct route_op *op)
{
	struct rule_scan s;
	int r = rule_lookup(nl, op, &s);
	if (r < 0)
		return r;
	if (s.found)
		return 0;
	struct nl_req req;
	rule_req(&req, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, op, NULL);
	r = nl_transact(nl, &req, NULL, NULL, NULL);
	if (r != -EEXIST)
		return r < 0 ? r : 1;
	r = rule_lookup(nl, op, &s);
	if (r < 0)
		return r;
	return s.found ? 0 : -EEXIST;
}

/* Delete identical copies one by one, each by its priority, so that a rule
 * with more selectors than ours is never taken for it. */
static int rule_remove(struct nl *nl, const struct route_op *op)
{
	int removed = 0;
	for (unsigned i = 0; i < RULE_REMOVE_MAX; i++) {
		struct rule_scan s;
		int r = rule_lookup(nl, op, &s);
		if (r < 0)
			return r;
		if (!s.found)
			return removed;
		struct nl_req req;
		rule_req(&req, RTM_DELRULE, 0, op, &s.prio);
		r = nl_transact(nl, &req, NULL, NULL, NULL);
		if (r == 0)
			removed = 1;
		else if (r != -ENOENT)
			return r;
	}
	return -EAGAIN;
}

/* ---- routes and addresses ------------------------------------------------ */

struct prefix_scan {
	const struct route_op *op;
	int ifindex;
	unsigned found;
};

static void prefix_scan_reset(void *userdata)
{
	((struct prefix_scan *)userdata)->found = 0;
}

static int attr_addr(const uint8_t *data, size_t dlen, size_t alen, uint8_t out[16])
{
	if (dlen != alen)
		return -EBADMSG;
	memcpy(out, data, alen);
	return 0;
}

/* "local PREFIX dev DEV table T", nothing else (no gateway, no source). */
static int route_msg(const struct nlmsghdr *h, const uint8_t *p, size_t plen, void *userdata)
{
	struct prefix_scan *s = userdata;
	const struct route_op *op = s->op;
	size_t alen = family_addr_len(op->family);
	struct rtmsg rtm;
	if (h->nlmsg_type != RTM_NEWROUTE)
		return 0;
	if (plen < sizeof(rtm))
		return -EBADMSG;
	memcpy(&rtm, p, sizeof(rtm));
	if (rtm.rtm_family != op->family)
		return 0;  /* the address family decides the attributes' sizes */

	uint8_t dst[16] = { 0 };
	uint32_t table = rtm.rtm_table, oif = 0;
	bool other = false;
	struct attr_iter it = attrs_after(p, plen, sizeof(rtm));
	uint16_t type;
	const uint8_t *d;
	size_t dlen;
	int r;
	while ((r = attr_next(&it, &type, &d, &dlen)) > 0) {
		switch (type) {
		case RTA_TABLE:
			r = attr_u32(d, dlen, &table);
			break;
		case RTA_DST:
			r = attr_addr(d, dlen, alen, dst);
			break;
		case RTA_OIF:
			r = attr_u32(d, dlen, &oif);
			break;
		case RTA_GATEWAY:
		case RTA_VIA:
		case RTA_MULTIPATH:
		case RTA_PREFSRC:
		case RTA_SRC:
		case RTA_IIF:
		case RTA_NH_ID:
		case RTA_ENCAP:
			other = true;
			break;
		default:  /* priority, metrics, cache info, preference: not identity */
			break;
		}
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	if (rtm.rtm_dst_len == op->prefix.prefix && rtm.rtm_src_len == 0 && rtm.rtm_tos == 0 &&
	    rtm.rtm_type == RTN_LOCAL && table == op->table && !other && oif == (uint32_t)s->ifindex &&
	    memcmp(dst, op->prefix.addr, alen) == 0)
		s->found++;
	return 0;
}

static int addr_msg(const struct nlmsghdr *h, const uint8_t *p, size_t plen, void *userdata)
{
	struct prefix_scan *s = userdata;
	const struct route_op *op = s->op;
	size_t alen = family_addr_len(op->family);
	struct ifaddrmsg ifa;
	if (h->nlmsg_type != RTM_NEWADDR)
		return 0;
	if (plen < sizeof(ifa))
		return -EBADMSG;
	memcpy(&ifa, p, sizeof(ifa));
	if (ifa.ifa_family != op->family)
		return 0;

	uint8_t local[16], address[16];
	bool has_local = false, has_address = false;
	struct attr_iter it = attrs_after(p, plen, sizeof(ifa));
	uint16_t type;
	const uint8_t *d;
	size_t dlen;
	int r;
	while ((r = attr_next(&it, &type, &d, &dlen)) > 0) {
		if (type == IFA_LOCAL) {
			r = attr_addr(d, dlen, alen, local);
			has_local = true;
		} else if (type == IFA_ADDRESS) {
			r = attr_addr(d, dlen, alen, address);
			has_address = true;
		}
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	/* IFA_LOCAL is the address itself; IFA_ADDRESS alone (IPv6) too. */
	const uint8_t *a = has_local ? local : has_address ? address : NULL;
	if (a && ifa.ifa_index == (uint32_t)s->ifindex && ifa.ifa_prefixlen == op->prefix.prefix &&
	    memcmp(a, op->prefix.addr, alen) == 0)
		s->found++;
	return 0;
}

static int prefix_lookup(struct nl *nl, const struct route_op *op, int ifindex, unsigned *found)
{
	struct nl_req req;
	if (op->kind == ROUTE_OP_ROUTE) {
		struct rtmsg rtm = { .rtm_family = (uint8_t)op->family };
		req_init(&req, RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof(rtm));
	} else {
		struct ifaddrmsg ifa = { .ifa_family = (uint8_t)op->family };
		req_init(&req, RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof(ifa));
	}
	struct prefix_scan s = { .op = op, .ifindex = ifindex };
	int r = nl_dump(nl, &req, op->kind == ROUTE_OP_ROUTE ? route_msg : addr_msg, &s,
			prefix_scan_reset);
	*found = s.found;
	return r;
}

/* RTM_{NEW,DEL}ROUTE or RTM_{NEW,DEL}ADDR for op on ifindex. */
static void prefix_req(struct nl_req *req, bool add, const struct route_op *op, int ifindex)
{
	size_t alen = family_addr_len(op->family);
	uint16_t flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0;
	if (op->kind == ROUTE_OP_ROUTE) {
		/* As ip route add local ...: proto boot, scope host; a delete
		 * matches any protocol and scope. */
		struct rtmsg rtm = {
			.rtm_family = (uint8_t)op->family,
			.rtm_dst_len = op->prefix.prefix,
			.rtm_table = op->table < 256 ? (uint8_t)op->table : RT_TABLE_UNSPEC,
			.rtm_protocol = add ? RTPROT_BOOT : RTPROT_UNSPEC,
			.rtm_scope = add ? RT_SCOPE_HOST : RT_SCOPE_NOWHERE,
			.rtm_type = RTN_LOCAL,
		};
		req_init(req, add ? RTM_NEWROUTE : RTM_DELROUTE, flags, &rtm, sizeof(rtm));
		req_put_u32(req, RTA_TABLE, op->table);
		req_put(req, RTA_DST, op->prefix.addr, alen);
		req_put_u32(req, RTA_OIF, (uint32_t)ifindex);
	} else {
		/* ip addr add's default scope: host for 127/8, else global */
		bool loopback = op->family == AF_INET && op->prefix.addr[0] == 127;
		struct ifaddrmsg ifa = {
			.ifa_family = (uint8_t)op->family,
			.ifa_prefixlen = op->prefix.prefix,
			.ifa_scope = loopback ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE,
			.ifa_index = (uint32_t)ifindex,
		};
		req_init(req, add ? RTM_NEWADDR : RTM_DELADDR, flags, &ifa, sizeof(ifa));
		req_put(req, IFA_LOCAL, op->prefix.addr, alen);
		req_put(req, IFA_ADDRESS, op->prefix.addr, alen);
	}
}

/* Add; on EEXIST (same prefix in the table, same address on the device)
 * a dump tells whether what is there is identical. */
static int prefix_apply(struct nl *nl, const struct route_op *op)
{
	struct link_info li;
	int r = link_get(nl, op->dev, &li);
	if (r < 0)
		return r;
	struct nl_req req;
	prefix_req(&req, true, op, li.index);
	r = nl_transact(nl, &req, NULL, NULL, NULL);
	if (r != -EEXIST)
		return r < 0 ? r : 1;
	unsigned found;
	r = prefix_lookup(nl, op, li.index, &found);
	if (r < 0)
		return r;
	return found ? 0 : -EEXIST;
}

/* Delete only what a dump shows identical: the kernel's delete matches
 * more loosely (IPv6 ignores the route type). */
static int prefix_remove(struct nl *nl, const struct route_op *op)
{
	struct link_info li;
	int r = link_get(nl, op->dev, &li);
	if (r == -ENODEV)
		return 0;  /* its routes and addresses went with it */
	if (r < 0)
		return r;
	unsigned found;
	r = prefix_lookup(nl, op, li.index, &found);
	if (r < 0)
		return r;
	if (!found)
		return 0;
	struct nl_req req;
	prefix_req(&req, false, op, li.index);
	r = nl_transact(nl, &req, NULL, NULL, NULL);
	if (r == -ESRCH || r == -ENOENT || r == -EADDRNOTAVAIL)
		return 0;  /* gone meanwhile */
	return r < 0 ? r : 1;
}

int route_op_apply(const struct route_op *op)
{
	_cleanup_nl_ struct nl nl = { .fd = -1 };
	int r = route_op_check(op);
	if (r < 0)
		return r;
	r = nl_open(&nl, NETLINK_ROUTE);
	if (r < 0)
		return r;
	return op->kind == ROUTE_OP_RULE ? rule_apply(&nl, op) : prefix_apply(&nl, op);
}

int route_op_remove(const struct route_op *op)
{
	_cleanup_nl_ struct nl nl = { .fd = -1 };
	int r = route_op_check(op);
	if (r < 0)
		return r;
	r = nl_open(&nl, NETLINK_ROUTE);
	if (r < 0)
		return r;
	return op->kind == ROUTE_OP_RULE ? rule_remove(&nl, op) : prefix_remove(&nl, op);
}

/* ---- nf_tables ----------------------------------------------------------- */

struct nft_count {
	uint16_t type;  /* the message type a dump entry comes as */
	unsigned n;
};

static void nft_count_reset(void *userdata)
{
	((struct nft_count *)userdata)->n = 0;
}

static int nft_msg(const struct nlmsghdr *h, const uint8_t *p, size_t plen, void *userdata)
{
	(void)p;
	struct nft_count *c = userdata;
	if (h->nlmsg_type != c->type)
		return 0;
	if (plen < sizeof(struct nfgenmsg))
		return -EBADMSG;
	c->n++;
	return 0;
}

/* Number of entries in an NFT_MSG_GET<get> dump over all families. */
static int nft_dump_count(struct nl *nl, uint16_t get, uint16_t entry, unsigned *n)
{
	struct nl_req req;
	struct nfgenmsg g = {
		.nfgen_family = AF_UNSPEC,  /* NFPROTO_UNSPEC: every family */
		.version = NFNETLINK_V0,
	};
	req_init(&req, (uint16_t)(NFNL_SUBSYS_NFTABLES << 8 | get), NLM_F_DUMP, &g, sizeof(g));
	struct nft_count c = { .type = (uint16_t)(NFNL_SUBSYS_NFTABLES << 8 | entry) };
	int r = nl_dump(nl, &req, nft_msg, &c, nft_count_reset);
	/* nfnetlink answers EINVAL for a subsystem that is not there (after
	 * trying to load its module) */
	if (r == -EINVAL || r == -EOPNOTSUPP)
		return -EPROTONOSUPPORT;
	*n = c.n;
	return r;
}

int nft_ruleset_count(unsigned *tables, unsigned *rules)
{
	_cleanup_nl_ struct nl nl = { .fd = -1 };
	unsigned t = 0, n = 0;
	/* EPROTONOSUPPORT from socket(): no nfnetlink at all */
	int r = nl_open(&nl, NETLINK_NETFILTER);
	if (r < 0)
		return r;
	r = nft_dump_count(&nl, NFT_MSG_GETTABLE, NFT_MSG_NEWTABLE, &t);
	if (r < 0)
		return r;
	r = nft_dump_count(&nl, NFT_MSG_GETRULE, NFT_MSG_NEWRULE, &n);
	if (r < 0)
		return r;
	if (tables)
		*tables = t;
	if (rules)
		*rules = n;
	return 0;
}
