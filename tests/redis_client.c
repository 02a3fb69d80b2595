/*
 * tests/redis_client.c — the Redis client of tests/redis_e2e.sh, on a plain
 * TCP socket (RESP by hand: no client library to install).
 *
 *   redis_client write PORT ACKFILE
 *	SET k:<n> <n> for n = 1, 2, …, one command at a time; after each +OK it
 *	appends "n\n" to ACKFILE, so a test can count acknowledged writes from
 *	outside.  On SIGTERM or SIGINT it finishes the command in flight (its
 *	reply is acked too) and prints "acked N".
 *
 *   redis_client check PORT [N]
 *	Reads DBSIZE = K (which must equal N if given) and checks that the keys
 *	are exactly k:1..k:K, each holding its number: an unbroken prefix of
 *	what "write" wrote.  Prints "prefix K"; exits 1 with what differs.
 *
 * Connects to 127.0.0.1.  Exit codes: 0 ok, 1 failure, 2 usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 1000		/* GETs per pipelined round trip in "check" */

static volatile sig_atomic_t stop;
static int sock;
static char rbuf[1 << 16];
static size_t rlen, rpos;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void __attribute__((format(printf, 1, 2), noreturn)) die(const char *fmt, ...)
{
	va_list ap;

	fputs("redis_client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void connect_to(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sock = socket(AF_INET, SOCK_STREAM, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("cannot connect to 127.0.0.1:%d: %s", port, strerror(errno));
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void send_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(sock, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("sending to the server: %s", w < 0 ? strerror(errno) : "short write");
		p += w;
		n -= w;
	}
}

/* Appends one RESP command (an array of bulk strings) to buf. */
static size_t cmd(char *buf, size_t cap, int argc, const char **argv)
{
	size_t n = snprintf(buf, cap, "*%d\r\n", argc);

	for (int i = 0; i < argc; i++)
		n += snprintf(buf + n, cap - n, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
	if (n >= cap)
		die("command too long");
	return n;
}

static int getbyte(void)
{
	if (rpos == rlen) {
		ssize_t r;

		do
			r = read(sock, rbuf, sizeof rbuf);
		while (r < 0 && errno == EINTR);
		if (r <= 0)
			die("reading from the server: %s", r < 0 ? strerror(errno) : "connection closed");
		rlen = r;
		rpos = 0;
	}
	return (unsigned char)rbuf[rpos++];
}

/* One reply line without its CRLF. */
static void getline_crlf(char *line, size_t cap)
{
	size_t n = 0;
	int c;

	while ((c = getbyte()) != '\n')
		if (n < cap - 1)
			line[n++] = c;
	if (n && line[n - 1] == '\r')
		n--;
	line[n] = 0;
}

/*
 * One reply: its type byte in *type; a simple string, error or integer in
 * out; a bulk string's contents in out (or *type = 'n' for a nil bulk).
 */
static void reply(char *type, char *out, size_t cap)
{
	char line[256];

	getline_crlf(line, sizeof line);
	*type = line[0];
	if (line[0] != '$') {
		snprintf(out, cap, "%s", line + 1);
		return;
	}
	long len = strtol(line + 1, NULL, 10);
	if (len < 0) {
		*type = 'n';
		out[0] = 0;
		return;
	}
	if ((size_t)len >= cap)
		die("bulk reply of %ld bytes is too long", len);
	for (long i = 0; i < len; i++)
		out[i] = getbyte();
	out[len] = 0;
	if (getbyte() != '\r' || getbyte() != '\n')
		die("malformed bulk reply");
}

static int do_write(const char *ackpath)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	unsigned long n = 0;
	int ack = open(ackpath, O_WRONLY | O_APPEND | O_CREAT, 0644);

	if (ack < 0)
		die("cannot open %s: %s", ackpath, strerror(errno));
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stop) {
		char key[32], val[32], buf[128], out[256], line[32], type;
		const char *argv[] = { "SET", key, val };
		int len;

		snprintf(key, sizeof key, "k:%lu", n + 1);
		snprintf(val, sizeof val, "%lu", n + 1);
		send_all(buf, cmd(buf, sizeof buf, 3, argv));
		reply(&type, out, sizeof out);
		if (type != '+' || strcmp(out, "OK"))
			die("SET %s answered %c%s after %lu acknowledged writes", key, type, out, n);
		n++;
		len = snprintf(line, sizeof line, "%lu\n", n);
		if (write(ack, line, len) != len)
			die("writing %s: %s", ackpath, strerror(errno));
	}
	printf("acked %lu\n", n);
	return 0;
}

static int do_check(long want)
{
	static char buf[BATCH * 64];
	const char *dbsize[] = { "DBSIZE" };
	char out[256], type;
	long k;

	send_all(buf, cmd(buf, sizeof buf, 1, dbsize));
	reply(&type, out, sizeof out);
	if (type != ':')
		die("DBSIZE answered %c%s", type, out);
	k = strtol(out, NULL, 10);
	if (want >= 0 && k != want)
		die("DBSIZE is %ld, want %ld", k, want);
	/* k:1..k:K and k:K+1, which must be missing. */
	for (long first = 1; first <= k + 1; first += BATCH) {
		long last = first + BATCH - 1 < k + 1 ? first + BATCH - 1 : k + 1;
		size_t len = 0;

		for (long i = first; i <= last; i++) {
			char key[32];
			const char *argv[] = { "GET", key };

			snprintf(key, sizeof key, "k:%ld", i);
			len += cmd(buf + len, sizeof buf - len, 2, argv);
		}
		send_all(buf, len);
		for (long i = first; i <= last; i++) {
			reply(&type, out, sizeof out);
			if (i == k + 1) {
				if (type != 'n')
					die("%ld keys, but k:%ld exists too (%c%s)", k, i, type, out);
			} else if (type == 'n') {
				die("%ld keys, but k:%ld is missing: not a prefix", k, i);
			} else if (type != '$' || strtol(out, NULL, 10) != i) {
				die("k:%ld holds %c%s, want %ld", i, type, out, i);
			}
		}
	}
	printf("prefix %ld\n", k);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "write")) {
		connect_to(atoi(argv[2]));
		return do_write(argv[3]);
	}
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "check")) {
		connect_to(atoi(argv[2]));
		return do_check(argc == 4 ? strtol(argv[3], NULL, 10) : -1);
	}
	fprintf(stderr, "usage: redis_client write PORT ACKFILE | redis_client check PORT [N]\n");
	return 2;
}
