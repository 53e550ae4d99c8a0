/* SPDX-License-Identifier: Apache-2.0 */
/*
 * netprobe: the network end points of the redirect integration tests.
 *
 *   netprobe proxy --out PORT --in PORT --log FILE [--tproxy]
 *       A stand-in for the sidecar.  Listens on both ports (IPv4, and IPv6
 *       with IPV6_V6ONLY), finds each connection's original destination
 *       (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST after a REDIRECT; the
 *       accepted socket's own address after a TPROXY), appends
 *       "<in|out> <client> -> <original destination>" to FILE, connects to
 *       the original destination and relays both ways until EOF.  A
 *       connection to an address of this host is made from 127.0.0.6 (::6),
 *       Istio's inbound passthrough source, so that the capture rules let
 *       it through; after a TPROXY it goes to 127.0.0.1 (::1) at the
 *       original port, as Istio's inbound cluster does.  A connection that
 *       comes back from 127.0.0.6 (::6) is a redirect loop: it is logged
 *       as "loop ..." and dropped.  "in" means: arrived on the --in port,
 *       or from another host; "out": from this host.
 *   netprobe server --port PORT [--bind ADDR]
 *       Echo server: each line is answered with
 *       "echo <line> from <its own local address:port>".
 *   netprobe client ADDR PORT MESSAGE
 *       Sends MESSAGE as one line, prints the reply line; exit 0 on a reply.
 *   netprobe chat ADDR PORT | netprobe chat --listen PORT
 *       A long-lived session, like SSH: one connection (made, or the first
 *       one accepted, after which the listening sockets are closed); prints
 *       "connected <peer address>", then each line of stdin is sent and
 *       each line received is printed (flushed), until EOF on either.
 *
 * One process per connection (fork), every child dies with its parent
 * (PR_SET_PDEATHSIG) and after IDLE_SECONDS without traffic; every wait is
 * bounded.  Exit status: 0 ok, 1 failure, 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80 /* linux/netfilter_ipv4.h */
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80 /* linux/netfilter_ipv6/ip6_tables.h */
#endif
#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif

#define IO_TIMEOUT_MS 5000   /* connect, and waiting for a reply */
#define IDLE_SECONDS 60      /* a relay or server child with no traffic exits */
#define LINE_MAX_LEN 1024    /* longest line the server and client handle */
#define RELAY_BUF 16384

static const char *prog = "netprobe";

static void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnx(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s[%ld]: %s\n", prog, (long)getpid(), msg);
}

static int usage(void)
{
	fputs("usage: netprobe proxy --out PORT --in PORT --log FILE [--tproxy]\n"
	      "       netprobe server --port PORT [--bind ADDR]\n"
	      "       netprobe client ADDR PORT MESSAGE\n"
	      "       netprobe chat ADDR PORT | netprobe chat --listen PORT\n", stderr);
	return 2;
}

static int parse_port(const char *s, uint16_t *out)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* ADDR (IPv4 or IPv6 literal) and PORT into a sockaddr. */
static int make_addr(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof *a4;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof *a6;
		return 0;
	}
	return -1;
}

/* "a.b.c.d:port" or "[x::y]:port". */
static void fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof ip);
		snprintf(buf, len, "%s:%u", ip, ntohs(a4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof ip);
		snprintf(buf, len, "[%s]:%u", ip, ntohs(a6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}

static uint16_t addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static socklen_t addr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

/* Is the address (port ignored) one of this host's own?  Binding a
 * datagram socket to it succeeds only if it is. */
static bool addr_is_local(const struct sockaddr_storage *ss)
{
	struct sockaddr_storage a = *ss;
	if (a.ss_family == AF_INET)
		((struct sockaddr_in *)&a)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&a)->sin6_port = 0;
	int fd = socket(a.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool local = bind(fd, (struct sockaddr *)&a, addr_len(&a)) == 0;
	close(fd);
	return local;
}

/* Istio's inbound passthrough source: 127.0.0.6 or ::6. */
static void passthrough_source(int family, struct sockaddr_storage *ss)
{
	socklen_t len;
	make_addr(family == AF_INET ? "127.0.0.6" : "::6", 0, ss, &len);
}

static bool is_passthrough_source(const struct sockaddr_storage *ss)
{
	struct sockaddr_storage p;
	passthrough_source(ss->ss_family, &p);
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		       ((struct sockaddr_in *)&p)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr,
		      &((struct sockaddr_in6 *)&p)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

static int set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* Connect with a bounded wait, optionally from a source address.
 * Returns a blocking socket or -1 (errno set). */
static int connect_bounded(const struct sockaddr_storage *dst, const struct sockaddr_storage *src)
{
	int fd = socket(dst->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (src && bind(fd, (const struct sockaddr *)src, addr_len(src)) < 0)
		goto fail;
	if (set_nonblock(fd, true) < 0)
		goto fail;
	if (connect(fd, (const struct sockaddr *)dst, addr_len(dst)) < 0) {
		if (errno != EINPROGRESS)
			goto fail;
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int r;
		do
			r = poll(&p, 1, IO_TIMEOUT_MS);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (r < 0)
			goto fail;
		int err = 0;
		socklen_t el = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			goto fail;
		if (err) {
			errno = err;
			goto fail;
		}
	}
	if (set_nonblock(fd, false) < 0)
		goto fail;
	return fd;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one line (without its newline, or \r\n) within timeout_ms (-1:
 * no limit); a line longer than the buffer is cut.  Returns its length,
 * or -1 on error, EOF or timeout.  Bytes after the newline stay in lb for
 * the next call.  fd is a socket or a pipe. */
struct linebuf {
	char b[LINE_MAX_LEN];
	size_t n;
};

static ssize_t read_line(int fd, struct linebuf *lb, char *out, size_t outlen, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(lb->b, '\n', lb->n);
		if (nl || lb->n == sizeof lb->b) {
			size_t take = nl ? (size_t)(nl - lb->b) : lb->n;
			size_t used = nl ? take + 1 : take;
			size_t copy = take < outlen - 1 ? take : outlen - 1;
			memcpy(out, lb->b, copy);
			out[copy] = '\0';
			if (copy && out[copy - 1] == '\r')
				out[--copy] = '\0';
			memmove(lb->b, lb->b + used, lb->n - used);
			lb->n -= used;
			return (ssize_t)copy;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ETIMEDOUT;
			return -1;
		}
		ssize_t n = read(fd, lb->b + lb->n, sizeof lb->b - lb->n);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return -1;
		}
		lb->n += (size_t)n;
	}
}

/* A listening socket on the wildcard address of a family (IPv6 only for
 * AF_INET6), or on ADDR. */
static int listen_on(int family, const char *addr, uint16_t port, bool transparent)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (make_addr(addr ? addr : family == AF_INET ? "0.0.0.0" : "::", port, &ss, &len) < 0) {
		warnx("bad address %s", addr);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		warnx("socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
		warnx("IPV6_V6ONLY: %s", strerror(errno));
		goto fail;
	}
	if (transparent) {
		int r = ss.ss_family == AF_INET ? setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof one)
						: setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof one);
		if (r < 0) {
			warnx("IP%s_TRANSPARENT: %s (needs CAP_NET_ADMIN)",
			      ss.ss_family == AF_INET ? "" : "V6", strerror(errno));
			goto fail;
		}
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		char a[80];
		fmt_addr(&ss, a, sizeof a);
		warnx("bind %s: %s", a, strerror(errno));
		goto fail;
	}
	if (listen(fd, 64) < 0) {
		warnx("listen: %s", strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* In a forked child: die with the parent, default signal handling. */
static void child_setup(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	signal(SIGCHLD, SIG_DFL);
}

/* ---- proxy -------------------------------------------------------------- */

/* Relay bytes both ways until both sides reached EOF, or an error, or
 * IDLE_SECONDS without traffic. */
static void relay(int a, int b)
{
	char buf[RELAY_BUF];
	bool open_rd[2] = { true, true };
	int fds[2] = { a, b };
	while (open_rd[0] || open_rd[1]) {
		struct pollfd p[2];
		nfds_t n = 0;
		int idx[2];
		for (int i = 0; i < 2; i++)
			if (open_rd[i]) {
				p[n].fd = fds[i];
				p[n].events = POLLIN;
				idx[n++] = i;
			}
		int r = poll(p, n, IDLE_SECONDS * 1000);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		for (nfds_t k = 0; k < n; k++) {
			if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int from = idx[k], to = 1 - from;
			ssize_t got = recv(fds[from], buf, sizeof buf, 0);
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0)
				return;
			if (got == 0) {
				open_rd[from] = false;
				shutdown(fds[to], SHUT_WR);
				continue;
			}
			if (write_all(fds[to], buf, (size_t)got) < 0)
				return;
		}
	}
}

static int log_line(const char *path, const char *line)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		warnx("open %s: %s", path, strerror(errno));
		return -1;
	}
	/* One write with O_APPEND: lines from concurrent children never mix. */
	ssize_t n = write(fd, line, strlen(line));
	close(fd);
	return n == (ssize_t)strlen(line) ? 0 : -1;
}

static void proxy_conn(int cfd, uint16_t listen_port, bool inport, bool tproxy, const char *logpath)
{
	struct sockaddr_storage client, local, orig;
	socklen_t len = sizeof client;
	if (getpeername(cfd, (struct sockaddr *)&client, &len) < 0 ||
	    (len = sizeof local, getsockname(cfd, (struct sockaddr *)&local, &len)) < 0) {
		warnx("getpeername/getsockname: %s", strerror(errno));
		return;
	}
	bool tproxied = tproxy && addr_port(&local) != listen_port;
	if (tproxied) {
		/* TPROXY: the socket carries the original destination itself. */
		orig = local;
	} else {
		memset(&orig, 0, sizeof orig);
		len = sizeof orig;
		int r = local.ss_family == AF_INET
				? getsockopt(cfd, SOL_IP, SO_ORIGINAL_DST, &orig, &len)
				: getsockopt(cfd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &orig, &len);
		if (r < 0) {
			warnx("no original destination: %s", strerror(errno));
			return;
		}
	}
	char c[80], o[80], line[200];
	fmt_addr(&client, c, sizeof c);
	fmt_addr(&orig, o, sizeof o);
	if (is_passthrough_source(&client)) {
		/* Our own passthrough connection came back: a redirect loop. */
		snprintf(line, sizeof line, "loop %s -> %s\n", c, o);
		log_line(logpath, line);
		return;
	}
	/* Inbound: arrived on the inbound port, or from another host. */
	bool in = inport || !addr_is_local(&client);
	snprintf(line, sizeof line, "%s %s -> %s\n", in ? "in" : "out", c, o);
	if (log_line(logpath, line) < 0)
		return;
	struct sockaddr_storage src, *srcp = NULL, dst = orig;
	if (tproxied) {
		/* As Istio's inbound cluster: to the app on loopback.  The
		 * host's own address would be captured by ISTIO_TPROXY again,
		 * which exempts only 127.0.0.1 (::1). */
		socklen_t dl;
		make_addr(orig.ss_family == AF_INET ? "127.0.0.1" : "::1", addr_port(&orig), &dst, &dl);
	}
	if (addr_is_local(&dst)) {
		passthrough_source(dst.ss_family, &src);
		srcp = &src;
	}
	char d[80];
	fmt_addr(&dst, d, sizeof d);
	int ufd = connect_bounded(&dst, srcp);
	if (ufd < 0) {
		warnx("connect %s%s: %s", d, srcp ? " from the passthrough source" : "", strerror(errno));
		return;
	}
	relay(cfd, ufd);
	close(ufd);
}

static int cmd_proxy(int argc, char **argv)
{
	uint16_t out_port = 0, in_port = 0;
	const char *logpath = NULL;
	bool tproxy = false;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--tproxy"))
			tproxy = true;
		else if (i + 1 < argc && !strcmp(argv[i], "--out")) {
			if (parse_port(argv[++i], &out_port) < 0)
				return usage();
		} else if (i + 1 < argc && !strcmp(argv[i], "--in")) {
			if (parse_port(argv[++i], &in_port) < 0)
				return usage();
		} else if (i + 1 < argc && !strcmp(argv[i], "--log"))
			logpath = argv[++i];
		else
			return usage();
	}
	if (!out_port || !in_port || !logpath || out_port == in_port)
		return usage();

	struct {
		int fd;
		uint16_t port;
		bool in;
	} l[4];
	const uint16_t ports[2] = { out_port, in_port };
	for (int i = 0; i < 4; i++) {
		l[i].port = ports[i / 2];
		l[i].in = i / 2 == 1;
		l[i].fd = listen_on(i % 2 ? AF_INET6 : AF_INET, NULL, l[i].port, tproxy);
		if (l[i].fd < 0)
			return 1;
	}
	signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
	pid_t self = getpid();
	for (;;) {
		struct pollfd p[4];
		for (int i = 0; i < 4; i++)
			p[i] = (struct pollfd){ .fd = l[i].fd, .events = POLLIN };
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			warnx("poll: %s", strerror(errno));
			return 1;
		}
		for (int i = 0; i < 4; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			int cfd = accept4(l[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (cfd < 0)
				continue;
			pid_t pid = fork();
			if (pid == 0) {
				child_setup(self);
				for (int k = 0; k < 4; k++)
					close(l[k].fd);
				proxy_conn(cfd, l[i].port, l[i].in, tproxy, logpath);
				close(cfd);
				_exit(0);
			}
			if (pid < 0)
				warnx("fork: %s", strerror(errno));
			close(cfd);
		}
	}
}

/* ---- server ------------------------------------------------------------- */

static void server_conn(int cfd)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof local;
	char me[80], line[LINE_MAX_LEN], reply[LINE_MAX_LEN + 100];
	if (getsockname(cfd, (struct sockaddr *)&local, &len) < 0)
		return;
	fmt_addr(&local, me, sizeof me);
	struct linebuf lb = { .n = 0 };
	while (read_line(cfd, &lb, line, sizeof line, IDLE_SECONDS * 1000) >= 0) {
		int n = snprintf(reply, sizeof reply, "echo %s from %s\n", line, me);
		if (n < 0)
			return;
		if ((size_t)n >= sizeof reply)
			n = sizeof reply - 1;
		if (write_all(cfd, reply, (size_t)n) < 0)
			return;
	}
}

static int cmd_server(int argc, char **argv)
{
	uint16_t port = 0;
	const char *bindaddr = NULL;
	for (int i = 2; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--port")) {
			if (parse_port(argv[++i], &port) < 0)
				return usage();
		} else if (i + 1 < argc && !strcmp(argv[i], "--bind"))
			bindaddr = argv[++i];
		else
			return usage();
	}
	if (!port)
		return usage();
	int fds[2], nfd = 0;
	if (bindaddr) {
		struct sockaddr_storage ss;
		socklen_t len;
		if (make_addr(bindaddr, port, &ss, &len) < 0)
			return usage();
		if ((fds[nfd++] = listen_on(ss.ss_family, bindaddr, port, false)) < 0)
			return 1;
	} else {
		if ((fds[nfd++] = listen_on(AF_INET, NULL, port, false)) < 0 ||
		    (fds[nfd++] = listen_on(AF_INET6, NULL, port, false)) < 0)
			return 1;
	}
	signal(SIGCHLD, SIG_IGN);
	pid_t self = getpid();
	for (;;) {
		struct pollfd p[2];
		for (int i = 0; i < nfd; i++)
			p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		if (poll(p, (nfds_t)nfd, -1) < 0) {
			if (errno == EINTR)
				continue;
			warnx("poll: %s", strerror(errno));
			return 1;
		}
		for (int i = 0; i < nfd; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			int cfd = accept4(fds[i], NULL, NULL, SOCK_CLOEXEC);
			if (cfd < 0)
				continue;
			pid_t pid = fork();
			if (pid == 0) {
				child_setup(self);
				for (int k = 0; k < nfd; k++)
					close(fds[k]);
				server_conn(cfd);
				close(cfd);
				_exit(0);
			}
			if (pid < 0)
				warnx("fork: %s", strerror(errno));
			close(cfd);
		}
	}
}

/* ---- client and chat ---------------------------------------------------- */

static int client_connect(const char *addr, const char *portstr)
{
	uint16_t port;
	struct sockaddr_storage ss;
	socklen_t len;
	if (parse_port(portstr, &port) < 0 || make_addr(addr, port, &ss, &len) < 0) {
		usage();
		return -2;
	}
	int fd = connect_bounded(&ss, NULL);
	if (fd < 0)
		warnx("connect %s port %s: %s", addr, portstr, strerror(errno));
	return fd;
}

/* Send one line, print its reply.  0 or -1. */
static int exchange(int fd, struct linebuf *lb, const char *msg)
{
	char line[LINE_MAX_LEN + 2], reply[LINE_MAX_LEN + 100];
	int n = snprintf(line, sizeof line, "%s\n", msg);
	if (n < 0 || (size_t)n >= sizeof line) {
		warnx("message too long");
		return -1;
	}
	if (write_all(fd, line, (size_t)n) < 0) {
		warnx("send: %s", strerror(errno));
		return -1;
	}
	if (read_line(fd, lb, reply, sizeof reply, IO_TIMEOUT_MS) < 0) {
		warnx("no reply: %s", strerror(errno));
		return -1;
	}
	printf("%s\n", reply);
	fflush(stdout);
	return 0;
}

static int cmd_client(int argc, char **argv)
{
	if (argc != 5 || strchr(argv[4], '\n'))
		return usage();
	int fd = client_connect(argv[2], argv[3]);
	if (fd < 0)
		return fd == -2 ? 2 : 1;
	struct linebuf lb = { .n = 0 };
	int r = exchange(fd, &lb, argv[4]);
	close(fd);
	return r < 0 ? 1 : 0;
}

static int cmd_chat(int argc, char **argv)
{
	int fd;
	if (argc == 4 && !strcmp(argv[2], "--listen")) {
		uint16_t port;
		if (parse_port(argv[3], &port) < 0)
			return usage();
		int l[2] = { listen_on(AF_INET, NULL, port, false), listen_on(AF_INET6, NULL, port, false) };
		if (l[0] < 0 || l[1] < 0)
			return 1;
		struct pollfd p[2] = { { .fd = l[0], .events = POLLIN }, { .fd = l[1], .events = POLLIN } };
		int r;
		do
			r = poll(p, 2, IDLE_SECONDS * 1000);
		while (r < 0 && errno == EINTR);
		fd = r > 0 ? accept4(p[0].revents & POLLIN ? l[0] : l[1], NULL, NULL, SOCK_CLOEXEC) : -1;
		close(l[0]);
		close(l[1]);
		if (fd < 0) {
			warnx("no connection on port %u: %s", port, r == 0 ? "timed out" : strerror(errno));
			return 1;
		}
	} else if (argc == 4) {
		fd = client_connect(argv[2], argv[3]);
		if (fd < 0)
			return fd == -2 ? 2 : 1;
	} else {
		return usage();
	}
	struct sockaddr_storage peer;
	socklen_t len = sizeof peer;
	char a[80] = "?";
	if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0)
		fmt_addr(&peer, a, sizeof a);
	printf("connected %s\n", a);
	fflush(stdout);

	/* stdin is the test's pipe: it may stay quiet for a while, but the
	 * test ends it (and timeout(1) bounds the whole session). */
	struct linebuf from_in = { .n = 0 }, from_net = { .n = 0 };
	char line[LINE_MAX_LEN + 2];
	int ret = 0;
	for (;;) {
		struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			ret = 1;
			break;
		}
		bool done = false;
		/* Drain every complete line; ETIMEDOUT: none left for now. */
		ssize_t n;
		while (!done && p[0].revents && (n = read_line(STDIN_FILENO, &from_in, line, sizeof line - 1, 0)) >= 0) {
			line[n] = '\n';
			if (write_all(fd, line, (size_t)n + 1) < 0) {
				warnx("send: %s", strerror(errno));
				ret = 1;
				done = true;
			}
		}
		if (!done && p[0].revents && errno != ETIMEDOUT)
			break; /* EOF on stdin: the session is over */
		while (!done && p[1].revents && (n = read_line(fd, &from_net, line, sizeof line, 0)) >= 0) {
			printf("%s\n", line);
			fflush(stdout);
		}
		if (!done && p[1].revents && errno != ETIMEDOUT) {
			warnx("connection ended: %s", strerror(errno));
			ret = 1;
			done = true;
		}
		if (done)
			break;
	}
	close(fd);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	prog = argv[1];
	if (!strcmp(argv[1], "proxy"))
		return cmd_proxy(argc, argv);
	if (!strcmp(argv[1], "server"))
		return cmd_server(argc, argv);
	if (!strcmp(argv[1], "client"))
		return cmd_client(argc, argv);
	if (!strcmp(argv[1], "chat"))
		return cmd_chat(argc, argv);
	return usage();
}
