/*
 * bench/loadgen.c - rp-loadgen, the load generator of bench/: MQTT 3.1.1 over
 * mutual TLS 1.3 against a broker on 127.0.0.1. bench/vs-mosquitto drives it
 * against rampartd and against mosquitto with the same options.
 *
 *   rp-loadgen MODE --port PORT --ca CA.crt --ca-key CA.key [options]
 *
 * Modes, each bounded in time and stopping by itself:
 *   handshakes  new connections for --duration seconds, --concurrency at a
 *               time: TCP connect, a full mutual-TLS handshake with a device
 *               certificate, CONNECT/CONNACK (not with --no-mqtt),
 *               DISCONNECT, close_notify, and the broker's close. No session
 *               is ever offered. Reports connections per second.
 *   resumed     the same, each offering the newest TLS session the broker
 *               gave its identity (a first full handshake per identity, not
 *               counted, gets one). Reports the rate and the share of
 *               handshakes that really resumed (SSL_session_reused), so a
 *               broker that never resumes shows it.
 *   throughput  one subscriber (--sub-cert, a service identity) subscribed to
 *               d/+/bench, then --publishers devices publishing to
 *               d/{id}/bench, QoS --qos 0 (as fast as the broker takes them)
 *               or 1 (each keeps --window messages unacknowledged), payloads of
 *               --payload bytes carrying the publisher and a send timestamp.
 *               Closed loop: a publisher also keeps at most --e2e-window
 *               messages that the subscriber has not received yet, so the
 *               broker runs at the rate it can sustain instead of filling
 *               (and, when full, dropping from) the subscriber's queue;
 *               --e2e-window 0 is the open loop. After --warmup seconds,
 *               counts for --duration seconds the messages the subscriber
 *               receives and their latency (p50, p99, p99.9), measured at the
 *               subscriber against the send time in the payload.
 *               With --telemetry (QoS 1, --e2e-window 0), publishers send
 *               SenML to d/{id}/telemetry instead and the figure is their
 *               PUBACKs per second (ack_rate): for rampartd, points
 *               committed to its store.
 *   idle        opens --count connections (CONNECT with --keepalive), at most
 *               --concurrency handshakes at a time, prints "ready ..." when
 *               all are open, and holds them for --hold seconds or until
 *               SIGTERM. The script measures the broker's memory meanwhile.
 *
 * Results: one line of key=value pairs on stdout (idle: a "ready" line
 * first); diagnostics on stderr (the first MAX_LOGGED failures). With
 * --watch-pid, the line also gives the broker's CPU use during the window
 * and how busy the whole machine was, so that a figure taken while other
 * work ran on the machine can be recognised.
 *
 * Implementation notes
 * - Identities. Every device has its own certificate, minted here at start
 *   from the test CA (EC P-256, CN = device id, the extensions that
 *   X509_V_FLAG_X509_STRICT requires): Rampart requires the client id to be
 *   the certificate's CN, and a second connection of one identity takes the
 *   first one's session over, so 10,000 idle connections need 10,000
 *   certificates. In the handshake modes identities are partitioned between
 *   connection slots, so no two live connections ever share one, and the
 *   TLS session kept for an identity is only touched by its slot's thread.
 * - Workers. One per thread (--threads), each with its own epoll set,
 *   SSL_CTX and connections; they share only the run's phase and times
 *   (atomics written by the main thread) and a few counters. A connection
 *   is a state machine: TCP, TLS, CONNACK, (SUBACK), READY, CLOSING.
 *   A step that fails records why in the connection (what, why) and
 *   returns ST_FAIL; the connection is then counted and freed by the
 *   worker's loop (conn_after, the deadline check, the final close), never
 *   inside a handler that still uses it.
 * - MQTT goes through the codec of lib/: every packet sent is made by
 *   rp_mqtt_encode() (a PUBLISH once per publisher, as a template whose
 *   packet identifier and payload are then patched), every packet received
 *   is read by rp_mqtt_decode().
 * - Bounds: every connection has a deadline (--timeout) until it is ready
 *   and CLOSE_NS once it closes, each phase its duration, the drain after a
 *   phase DRAIN_NS. The broker's address is 127.0.0.1, fixed; the
 *   connections come from 127.0.0.1, or in turn from 127.0.0.1 ..
 *   127.0.0.N with --sources N (all of 127/8 is the loopback): a broker
 *   that limits connections per address (rampartd's connect-rate bucket,
 *   at most 1000/s and a burst of 10000 per address) then sees N sources,
 *   as it would a fleet, and the handshake modes measure handshakes, not
 *   that limit.
 * - The server certificate is not verified unless --verify-server is given:
 *   on a 2-core machine, two ECDSA verifications less per handshake on the
 *   client side leave the broker, not the load generator, as the
 *   bottleneck. This is a benchmark client for loopback, nothing more.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "rampart/mqtt.h"

#define MAX_THREADS  8u
#define MAX_EVENTS   256
#define MAX_LOGGED   10u
#define NS           1000000000ull
#define MS           1000000ull
#define CLOSE_NS     (1000u * MS)   /* from DISCONNECT to the broker's close */
#define DRAIN_NS     (3000u * MS)   /* after a phase, for connections in flight */
#define SETUP_NS     (60000u * MS)  /* subscriber and publishers connected */
#define IDLE_OPEN_NS (180000u * MS) /* idle: every connection opened */
#define RETRY_NS     (10u * MS)     /* a slot waits this long after a failure */
#define TICK_NS      (50u * MS)     /* deadline checks */
#define QOS0_BATCH   (32u * 1024u)  /* bytes of PUBLISH queued per write */
#define STAMP_LEN    16u            /* payload: publisher, sequence, send time (ns) */
#define BENCH_TOPIC  "bench"        /* publishers: d/{id}/bench */
/* --telemetry: the SenML payload, [{"n":"bench","v":N}] with N in a fixed field. */
#define SENML_HEAD        "[{\"n\":\"bench\",\"v\":"
#define SENML_NUM_OFF     (sizeof(SENML_HEAD) - 1u)
#define SENML_NUM_LEN     20u
#define SENML_MIN_PAYLOAD (SENML_NUM_OFF + SENML_NUM_LEN + 2u)
#define BENCH_SUB         "d/+/" BENCH_TOPIC

/* Latency histogram: 64 linear sub-buckets per power of two (error < 1.6%). */
#define HIST_SUB_BITS 6u
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  ((64u - HIST_SUB_BITS + 1u) * HIST_SUB)

enum mode { M_HANDSHAKES, M_RESUMED, M_THROUGHPUT, M_IDLE };
enum kind { K_SHAKE, K_IDLE, K_PUB, K_SUB };
enum state { S_TCP, S_TLS, S_CONNACK, S_SUBACK, S_READY, S_CLOSING };

/*
 * Phases, set by the main thread only. Handshake modes: WARM (resumed: one
 * full handshake per identity), RUN, DRAIN, END. Throughput: SETUP_SUB,
 * SETUP_PUB, RUN, DRAIN (publishers stop, the subscriber reads on), END
 * (everyone disconnects). Idle: RUN (open, then hold), END.
 */
enum phase { PH_INIT, PH_WARM, PH_SETUP_SUB, PH_SETUP_PUB, PH_RUN, PH_DRAIN, PH_END };

/* What the dispatcher does with a connection after a step. */
enum { ST_GO = 0, ST_FAIL = -1, ST_DONE = 1 };

typedef struct opts {
	enum mode mode;
	uint16_t port;
	const char *ca_file;
	const char *ca_key_file;
	const char *sub_cert_file;
	const char *sub_key_file;
	const char *prefix;
	unsigned threads;
	unsigned concurrency;
	unsigned sources; /* connections come from 127.0.0.1 .. 127.0.0.<sources> */
	unsigned identities;
	unsigned count;
	unsigned publishers;
	unsigned window;
	unsigned e2e_window;
	unsigned payload;
	unsigned qos;
	unsigned keepalive;
	unsigned watch_pid;
	double duration;
	double warmup;
	double hold;
	double timeout;
	int mqtt;
	int verify_server;
	int telemetry; /* throughput: SenML to d/{id}/telemetry, rate = PUBACKs */
} opts;

typedef struct ident {
	X509 *cert;
	EVP_PKEY *key;
	SSL_SESSION *sess; /* resumed mode: the newest session the broker gave */
	char id[64];
} ident;

typedef struct run run;
typedef struct worker worker;

/* Messages of one publisher the subscriber received (the closed loop). */
typedef struct credit {
	atomic_ullong n;
} credit;

typedef struct conn {
	worker *w;
	ident *id;
	SSL *ssl;
	int fd;
	unsigned slot;
	uint8_t kind;
	uint8_t state;
	uint8_t want_out;     /* the last TLS call wants the socket writable */
	uint8_t connected;    /* CONNACK accepted: DISCONNECT before closing */
	uint8_t shut_sent;    /* close_notify sent */
	uint8_t verdict_open; /* --no-mqtt: success only once the broker closes cleanly */
	uint8_t read_blocked; /* the last read wants the socket writable */
	uint32_t events;      /* registered with epoll */
	uint64_t deadline;    /* ns, 0: none */
	uint8_t *rbuf;
	uint8_t *wbuf;
	size_t rlen, rcap;
	size_t wlen, wcap;
	/* publishers */
	uint8_t *tmpl; /* the PUBLISH, encoded once */
	size_t tmpl_len, pid_off, pay_off;
	uint32_t inflight;
	uint32_t pub; /* publisher index */
	uint16_t next_pid;
	uint64_t seq;
	/* failure, set by set_err() */
	const char *what;
	char why[200];
} conn;

struct worker {
	run *r;
	unsigned index;
	pthread_t thread;
	int started;
	int ep;
	uint64_t opened; /* sockets opened: picks the source address */
	int efd;         /* throughput: woken when the subscriber frees credit */
	int spin;        /* a publisher can send more now: do not sleep in epoll_wait */
	int credited;    /* the subscriber freed credit: kick the publishers */
	SSL_CTX *ctx;
	enum phase phase;
	conn **slots;
	unsigned nslots;
	unsigned first;     /* handshake modes: global slot index of slots[0]; idle: ids[first] */
	unsigned *iter;     /* handshake modes: connections started per slot */
	uint64_t *retry_at; /* handshake modes: not before this after a failure */
	unsigned live;
	unsigned in_flight; /* idle: handshakes not yet ready */
	unsigned next_open; /* idle: next slot to open */
	int flagged;        /* reported to the main thread (warm-up, idle, exit) */
	uint64_t t_start, t_end;
	uint64_t next_tick;
	/* results, read by the main thread after join */
	uint64_t ok, failed, timeouts, reused, dropped, warm_ok, warm_failed;
	uint64_t sent, acked, received, in_window;
	uint64_t acked_in_window; /* PUBACKs during the measured window */
	uint64_t lat_max;
	uint64_t hist[HIST_BUCKETS];
};

struct run {
	opts o;
	rp_mqtt_limits lim;
	ident *ids;
	unsigned nids;
	unsigned per_slot; /* handshake modes: identities of one slot */
	ident sub;
	_Atomic int phase;
	_Atomic uint64_t t_start;
	_Atomic uint64_t t_end;
	atomic_uint flagged;   /* workers done with warm-up / idle opening / exit */
	atomic_uint sub_ready; /* 1: SUBACK received */
	atomic_uint pubs_ready;
	atomic_uint setup_failed;
	atomic_uint logged;
	atomic_ullong ok_total; /* --count in the handshake modes */
	credit *delivered;      /* throughput: messages received, per publisher */
	worker w[MAX_THREADS];
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / NS), .tv_nsec = (long)(ns % NS)};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !got_signal) {
	}
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds used so far by process pid (utime + stime), -1 if unknown. */
static double proc_cpu_seconds(unsigned pid)
{
	char path[64], buf[1024];
	unsigned long long ut = 0, st = 0;
	const char *p;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "r");
	if (f == NULL) {
		return -1.0;
	}
	n = fread(buf, 1, sizeof(buf) - 1u, f);
	fclose(f);
	buf[n] = '\0';
	/* After the command name, which may hold anything: ") S ppid ...". */
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&ut, &st) != 2) {
		return -1.0;
	}
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Busy and total jiffies of the whole machine (first line of /proc/stat). */
static void machine_jiffies(unsigned long long *busy, unsigned long long *total)
{
	unsigned long long v[8] = {0};
	FILE *f = fopen("/proc/stat", "r");

	*busy = 0;
	*total = 0;
	if (f == NULL) {
		return;
	}
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (unsigned i = 0; i < 8u; i++) {
			*total += v[i];
		}
		*busy = *total - v[3] - v[4]; /* not idle, not iowait */
	}
	fclose(f);
}

/* What --watch-pid reports: samples at the start and at the end of the window. */
typedef struct cpu_usage {
	double self, broker;
	unsigned long long busy, total;
} cpu_usage;

static void usage_sample(const run *r, cpu_usage *u)
{
	u->self = cpu_seconds();
	u->broker = r->o.watch_pid != 0 ? proc_cpu_seconds(r->o.watch_pid) : -1.0;
	machine_jiffies(&u->busy, &u->total);
}

/*
 * " cpu=A broker_cpu=B machine_busy=C": this process and the broker in % of
 * one core, the whole machine in % of all its cores (-1: unknown).
 */
static void usage_print(const cpu_usage *a, const cpu_usage *b, double secs)
{
	double broker = -1.0, machine = -1.0;

	if (a->broker >= 0.0 && b->broker >= 0.0) {
		broker = 100.0 * (b->broker - a->broker) / secs;
	}
	if (b->total > a->total) {
		machine = 100.0 * (double)(b->busy - a->busy) / (double)(b->total - a->total);
	}
	printf(" cpu=%.1f broker_cpu=%.1f machine_busy=%.1f\n", 100.0 * (b->self - a->self) / secs,
	       broker, machine);
}

/* ---- latency histogram ---------------------------------------------------- */

static unsigned hist_index(uint64_t v)
{
	unsigned msb;

	if (v < HIST_SUB) {
		return (unsigned)v;
	}
	msb = 63u - (unsigned)__builtin_clzll(v);
	return (msb - HIST_SUB_BITS + 1u) * HIST_SUB +
	       (unsigned)((v >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1u));
}

/* The middle of bucket i. */
static double hist_value(unsigned i)
{
	unsigned grp = i / HIST_SUB, sub = i % HIST_SUB;
	double width, low;

	if (grp == 0) {
		return (double)sub;
	}
	width = (double)((uint64_t)1 << (grp - 1u));
	low = (double)(HIST_SUB + sub) * width;
	return low + width / 2.0;
}

/* The p-quantile (0 < p <= 1) in nanoseconds; 0 if empty. */
static double hist_quantile(const uint64_t *h, uint64_t total, double p)
{
	uint64_t want, seen = 0;

	if (total == 0) {
		return 0.0;
	}
	want = (uint64_t)((double)total * p + 0.999999);
	if (want == 0) {
		want = 1;
	}
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h[i];
		if (seen >= want) {
			return hist_value(i);
		}
	}
	return hist_value(HIST_BUCKETS - 1u);
}

/* ---- options -------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rp-loadgen MODE --port PORT --ca CA.crt --ca-key CA.key [options]\n"
		"modes: handshakes, resumed, throughput, idle (see bench/loadgen.c)\n"
		"  --threads N        worker threads, 1..8 (1)\n"
		"  --concurrency N    connections in flight: handshake modes (32), idle (64)\n"
		"  --identities N     device certificates, handshake modes (64)\n"
		"  --count N          idle: connections (10000); handshake modes: stop after N\n"
		"  --duration S       measured seconds, at most 60 (10)\n"
		"  --warmup S         throughput: seconds before counting (1)\n"
		"  --hold S           idle: seconds to hold the connections, at most 600 (60)\n"
		"  --timeout S        per connection, until ready (10)\n"
		"  --publishers N     throughput (8)\n"
		"  --qos 0|1          throughput (1)\n"
		"  --window N         throughput, QoS 1 messages in flight per publisher (16)\n"
		"  --e2e-window N     throughput, messages sent, not yet received, per publisher\n"
		"                     (64; 0: open loop, publishers limited by the broker only)\n"
		"  --payload N        throughput, bytes, 16..65536 (64)\n"
		"  --keepalive S      seconds in CONNECT (60; idle: 900)\n"
		"  --sources N        connect from 127.0.0.1 .. 127.0.0.N in turn (1)\n"
		"  --sub-cert F --sub-key F   throughput: the subscriber's service identity\n"
		"  --prefix P         device ids are P00000, P00001, ... (bench-)\n"
		"  --watch-pid PID    report the CPU use of PID (the broker) and of the machine\n"
		"                     during the measured window\n"
		"  --no-mqtt          handshake modes: TLS only, no CONNECT\n"
		"  --verify-server    verify the broker's certificate (CA, IP 127.0.0.1)\n"
		"  --telemetry        throughput, QoS 1 open loop: publishers send SenML to\n"
		"                     d/{id}/telemetry; the rate is PUBACKs per second\n");
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi) {
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_secs(const char *s, double lo, double hi, double *out)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_mode(const char *s, enum mode *m)
{
	static const char *const names[] = {"handshakes", "resumed", "throughput", "idle"};

	for (unsigned i = 0; i < 4u; i++) {
		if (strcmp(s, names[i]) == 0) {
			*m = (enum mode)i;
			return 0;
		}
	}
	return -1;
}

static int parse_opt(opts *o, const char *k, const char *v)
{
	unsigned port;

	if (strcmp(k, "--port") == 0) {
		if (parse_uint(v, 1, 65535, &port) != 0) {
			return -1;
		}
		o->port = (uint16_t)port;
		return 0;
	}
	if (strcmp(k, "--ca") == 0) {
		o->ca_file = v;
	} else if (strcmp(k, "--ca-key") == 0) {
		o->ca_key_file = v;
	} else if (strcmp(k, "--sub-cert") == 0) {
		o->sub_cert_file = v;
	} else if (strcmp(k, "--sub-key") == 0) {
		o->sub_key_file = v;
	} else if (strcmp(k, "--prefix") == 0) {
		o->prefix = v;
		return strlen(v) > 40u ? -1 : 0;
	} else if (strcmp(k, "--threads") == 0) {
		return parse_uint(v, 1, MAX_THREADS, &o->threads);
	} else if (strcmp(k, "--concurrency") == 0) {
		return parse_uint(v, 1, 4096, &o->concurrency);
	} else if (strcmp(k, "--sources") == 0) {
		return parse_uint(v, 1, 64, &o->sources);
	} else if (strcmp(k, "--identities") == 0) {
		return parse_uint(v, 1, 100000, &o->identities);
	} else if (strcmp(k, "--count") == 0) {
		return parse_uint(v, 1, 100000, &o->count);
	} else if (strcmp(k, "--publishers") == 0) {
		return parse_uint(v, 1, 1000, &o->publishers);
	} else if (strcmp(k, "--window") == 0) {
		return parse_uint(v, 1, 1024, &o->window);
	} else if (strcmp(k, "--e2e-window") == 0) {
		return parse_uint(v, 0, 100000, &o->e2e_window);
	} else if (strcmp(k, "--payload") == 0) {
		return parse_uint(v, STAMP_LEN, 65536, &o->payload);
	} else if (strcmp(k, "--qos") == 0) {
		return parse_uint(v, 0, 1, &o->qos);
	} else if (strcmp(k, "--watch-pid") == 0) {
		return parse_uint(v, 1, 0x3FFFFFFFu, &o->watch_pid);
	} else if (strcmp(k, "--keepalive") == 0) {
		return parse_uint(v, 0, 65535, &o->keepalive);
	} else if (strcmp(k, "--duration") == 0) {
		return parse_secs(v, 0.1, 60.0, &o->duration);
	} else if (strcmp(k, "--warmup") == 0) {
		return parse_secs(v, 0.0, 30.0, &o->warmup);
	} else if (strcmp(k, "--hold") == 0) {
		return parse_secs(v, 0.0, 600.0, &o->hold);
	} else if (strcmp(k, "--timeout") == 0) {
		return parse_secs(v, 0.1, 60.0, &o->timeout);
	} else {
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, opts *o)
{
	memset(o, 0, sizeof(*o));
	o->prefix = "bench-";
	o->threads = 1;
	o->identities = 64;
	o->publishers = 8;
	o->window = 16;
	o->e2e_window = 64;
	o->payload = 64;
	o->qos = 1;
	o->duration = 10.0;
	o->warmup = 1.0;
	o->hold = 60.0;
	o->timeout = 10.0;
	o->mqtt = 1;
	if (argc < 2 || parse_mode(argv[1], &o->mode) != 0) {
		return -1;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--no-mqtt") == 0) {
			o->mqtt = 0;
		} else if (strcmp(argv[i], "--verify-server") == 0) {
			o->verify_server = 1;
		} else if (strcmp(argv[i], "--telemetry") == 0) {
			o->telemetry = 1;
		} else if (i + 1 >= argc || parse_opt(o, argv[i], argv[i + 1]) != 0) {
			fprintf(stderr, "rp-loadgen: bad option or value: %s\n", argv[i]);
			return -1;
		} else {
			i++;
		}
	}
	if (o->port == 0 || o->ca_file == NULL || o->ca_key_file == NULL) {
		fprintf(stderr, "rp-loadgen: --port, --ca and --ca-key are required\n");
		return -1;
	}
	if (o->mode == M_THROUGHPUT && (o->sub_cert_file == NULL || o->sub_key_file == NULL)) {
		fprintf(stderr, "rp-loadgen: throughput needs --sub-cert and --sub-key\n");
		return -1;
	}
	if (o->telemetry && (o->mode != M_THROUGHPUT || o->qos != 1 || o->e2e_window != 0)) {
		fprintf(stderr, "rp-loadgen: --telemetry is for throughput at QoS 1, open loop "
				"(--qos 1 --e2e-window 0)\n");
		return -1;
	}
	if (o->telemetry && o->payload < SENML_MIN_PAYLOAD) {
		o->payload = (unsigned)SENML_MIN_PAYLOAD;
	}
	if (o->mode == M_RESUMED && !o->mqtt) {
		fprintf(stderr, "rp-loadgen: resumed needs MQTT: the TLS 1.3 ticket arrives after "
				"the handshake, during the CONNECT round trip\n");
		return -1;
	}
	if (o->concurrency == 0) {
		o->concurrency = o->mode == M_IDLE ? 64u : 32u;
	}
	if (o->sources == 0) {
		o->sources = 1;
	}
	if (o->mode == M_IDLE && o->count == 0) {
		o->count = 10000;
	}
	if (o->keepalive == 0) {
		o->keepalive = o->mode == M_IDLE ? 900u : 60u;
	}
	if (o->concurrency < o->threads) {
		o->concurrency = o->threads;
	}
	return 0;
}

/* ---- identities ----------------------------------------------------------- */

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	int ok;

	if (e == NULL) {
		return 0;
	}
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

/*
 * A device certificate for d->id, signed by the CA: what rampartd's strict
 * verification wants of a leaf (v3, critical basicConstraints CA:FALSE,
 * critical keyUsage, clientAuth, SKI and AKI), valid from an hour ago.
 */
static int mint(ident *d, X509 *ca, EVP_PKEY *ca_key, uint64_t serial)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	int ok = 0;

	if (k == NULL || x == NULL) {
		goto out;
	}
	if (!X509_set_version(x, 2) || !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 2L * 86400L) == NULL || !X509_set_pubkey(x, k) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
					(const unsigned char *)d->id, -1, -1, 0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca))) {
		goto out;
	}
	X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
	if (!add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") ||
	    !add_ext(x, &v3, NID_ext_key_usage, "clientAuth") ||
	    !add_ext(x, &v3, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, &v3, NID_authority_key_identifier, "keyid:always") ||
	    X509_sign(x, ca_key, EVP_sha256()) <= 0) {
		goto out;
	}
	d->cert = x;
	d->key = k;
	x = NULL;
	k = NULL;
	ok = 1;
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return ok;
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL) {
		fprintf(stderr, "rp-loadgen: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL) {
		fprintf(stderr, "rp-loadgen: %s: not a PEM certificate\n", path);
	}
	return x;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (f == NULL) {
		fprintf(stderr, "rp-loadgen: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL) {
		fprintf(stderr, "rp-loadgen: %s: not a PEM private key\n", path);
	}
	return k;
}

static int make_identities(run *r)
{
	const opts *o = &r->o;
	X509 *ca = read_cert(o->ca_file);
	EVP_PKEY *ca_key = read_key(o->ca_key_file);
	uint64_t serial = 0;
	uint64_t t0 = now_ns();
	int ok = 0;

	if (ca == NULL || ca_key == NULL) {
		goto out;
	}
	if (RAND_bytes((unsigned char *)&serial, sizeof(serial)) != 1) {
		goto out;
	}
	/* Positive, below 2^62, so that adding an index cannot wrap. */
	serial = (serial >> 2) | 1u;
	r->ids = calloc(r->nids, sizeof(*r->ids));
	if (r->ids == NULL) {
		goto out;
	}
	for (unsigned i = 0; i < r->nids; i++) {
		snprintf(r->ids[i].id, sizeof(r->ids[i].id), "%s%05u", o->prefix, i);
		if (!mint(&r->ids[i], ca, ca_key, serial + i)) {
			fprintf(stderr, "rp-loadgen: cannot mint the certificate of %s\n",
				r->ids[i].id);
			goto out;
		}
	}
	if (r->nids >= 1000u) {
		fprintf(stderr, "rp-loadgen: %u device certificates minted in %.2f s\n", r->nids,
			(double)(now_ns() - t0) / 1e9);
	}
	ok = 1;
out:
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return ok;
}

static int load_subscriber(run *r)
{
	ident *s = &r->sub;
	int n;

	s->cert = read_cert(r->o.sub_cert_file);
	s->key = read_key(r->o.sub_key_file);
	if (s->cert == NULL || s->key == NULL) {
		return 0;
	}
	/* Rampart: the client id is the certificate's CN. */
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(s->cert), NID_commonName, s->id,
				      (int)sizeof(s->id));
	if (n <= 0 || (size_t)n >= sizeof(s->id)) {
		fprintf(stderr, "rp-loadgen: %s: no usable CN\n", r->o.sub_cert_file);
		return 0;
	}
	return 1;
}

static void free_identity(ident *d)
{
	SSL_SESSION_free(d->sess);
	X509_free(d->cert);
	EVP_PKEY_free(d->key);
}

/* ---- failures ------------------------------------------------------------- */

static int set_err(conn *c, const char *what, const char *why)
{
	c->what = what;
	snprintf(c->why, sizeof(c->why), "%s", why);
	return ST_FAIL;
}

/*
 * Classifies the failure of an SSL call. WANT_READ / WANT_WRITE are not
 * failures: ST_GO, with want_out set for the next wait.
 */
static int tls_result(conn *c, const char *what, int ret)
{
	int e = SSL_get_error(c->ssl, ret);
	unsigned long code;
	char buf[160];

	if (e == SSL_ERROR_WANT_READ) {
		c->want_out = 0;
		return ST_GO;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		c->want_out = 1;
		return ST_GO;
	}
	code = ERR_peek_error();
	if (e == SSL_ERROR_ZERO_RETURN) {
		snprintf(buf, sizeof(buf), "the broker closed the connection (close_notify)");
	} else if (code != 0) {
		ERR_error_string_n(code, buf, sizeof(buf));
	} else if (e == SSL_ERROR_SYSCALL && errno != 0) {
		if (strerror_r(errno, buf, sizeof(buf)) != 0) {
			snprintf(buf, sizeof(buf), "errno %d", errno);
		}
	} else {
		snprintf(buf, sizeof(buf), "the broker closed the connection (SSL error %d)", e);
	}
	if (c->w->r->o.verify_server && SSL_get_verify_result(c->ssl) != X509_V_OK) {
		snprintf(buf, sizeof(buf), "server certificate: %s",
			 X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
	}
	ERR_clear_error();
	return set_err(c, what, buf);
}

static void log_failure(const conn *c)
{
	if (atomic_fetch_add(&c->w->r->logged, 1u) < MAX_LOGGED) {
		fprintf(stderr, "rp-loadgen: %s: %s: %s\n", c->id != NULL ? c->id->id : "?",
			c->what != NULL ? c->what : "failed", c->why);
	}
}

/* ---- connections ---------------------------------------------------------- */

static void conn_free(conn *c)
{
	worker *w = c->w;

	if (c->ssl != NULL) {
		SSL_free(c->ssl);
	}
	if (c->fd >= 0) {
		close(c->fd); /* also leaves the epoll set */
	}
	if (w->slots[c->slot] == c) {
		w->slots[c->slot] = NULL;
	}
	w->live--;
	free(c->rbuf);
	free(c->wbuf);
	free(c->tmpl);
	free(c);
}

static int in_window(const worker *w, uint64_t now)
{
	return w->phase == PH_RUN && now >= w->t_start && now < w->t_end;
}

/* A connection that failed: counted by what it was doing, then freed. */
static void conn_fail(conn *c)
{
	worker *w = c->w;
	run *r = w->r;

	switch (c->kind) {
	case K_SHAKE:
		if (w->phase == PH_WARM) {
			w->warm_failed++;
		} else {
			w->failed++;
		}
		w->retry_at[c->slot] = now_ns() + RETRY_NS;
		break;
	case K_IDLE:
		if (c->state == S_READY) {
			w->dropped++;
		} else {
			w->failed++;
			w->in_flight--;
		}
		break;
	default:
		if (w->phase < PH_RUN) {
			atomic_store(&r->setup_failed, 1u);
		} else if (w->phase < PH_END) {
			w->failed++;
		}
		break;
	}
	log_failure(c);
	conn_free(c);
}

static void conn_watch(conn *c)
{
	const worker *w = c->w;
	uint32_t want = EPOLLIN;
	struct epoll_event ev;

	if (c->state == S_TCP || c->want_out || c->wlen > 0) {
		want |= EPOLLOUT;
	}
	if (want == c->events) {
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.ptr = c;
	if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0) {
		c->events = want;
	}
}

static void buffer_sizes(const run *r, conn *c)
{
	switch (c->kind) {
	case K_SUB:
		c->rcap = 256u * 1024u;
		c->wcap = 64u * 1024u;
		break;
	case K_PUB:
		c->rcap = 16u * 1024u;
		c->wcap = QOS0_BATCH + 2u * (r->o.payload + 256u);
		break;
	default:
		c->rcap = 512u;
		c->wcap = 512u;
		break;
	}
}

/* Opens c's socket to the broker, from 127.0.0.1 + (n % sources). */
static int conn_open_socket(conn *c, uint16_t port, unsigned sources, uint64_t n)
{
	struct sockaddr_in sa;
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		return -1;
	}
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (sources > 1) {
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(n % sources));
		if (bind(c->fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0) {
			return -1;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* 127.0.0.1, never anything else */
	if (connect(c->fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
		return -1;
	}
	return 0;
}

/*
 * Starts a connection of `kind` for identity id in slots[slot]. On failure
 * the attempt is counted as failed (it never existed for the broker) and
 * NULL is returned.
 */
static conn *conn_start(worker *w, uint8_t kind, ident *id, unsigned slot)
{
	run *r = w->r;
	struct epoll_event ev;
	char why[160];
	conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		return NULL;
	}
	c->w = w;
	c->id = id;
	c->kind = kind;
	c->slot = slot;
	c->fd = -1;
	c->next_pid = 1;
	buffer_sizes(r, c);
	c->rbuf = malloc(c->rcap);
	c->wbuf = malloc(c->wcap);
	w->slots[slot] = c;
	w->live++;
	if (c->rbuf == NULL || c->wbuf == NULL) {
		set_err(c, "start", "out of memory");
		goto fail;
	}
	if (conn_open_socket(c, r->o.port, r->o.sources, w->opened++) != 0) {
		if (strerror_r(errno, why, sizeof(why)) != 0) {
			snprintf(why, sizeof(why), "errno %d", errno);
		}
		set_err(c, "TCP connect", why);
		goto fail;
	}
	c->ssl = SSL_new(w->ctx);
	if (c->ssl == NULL || !SSL_set_fd(c->ssl, c->fd) ||
	    !SSL_use_cert_and_key(c->ssl, id->cert, id->key, NULL, 1)) {
		ERR_clear_error();
		set_err(c, "TLS setup", "SSL_new or certificate refused");
		goto fail;
	}
	SSL_set_app_data(c->ssl, c);
	if (r->o.mode == M_RESUMED && id->sess != NULL) {
		/*
		 * A copy: OpenSSL may mark the session a connection used as not
		 * resumable, and the broker need not send a new ticket after a
		 * resumption (rampartd does not), so the kept one must stay clean.
		 */
		SSL_SESSION *copy = SSL_SESSION_dup(id->sess);

		if (copy == NULL || !SSL_set_session(c->ssl, copy)) {
			ERR_clear_error();
		}
		SSL_SESSION_free(copy);
	}
	SSL_set_connect_state(c->ssl);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = c;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
		set_err(c, "epoll", "cannot watch the socket");
		goto fail;
	}
	c->events = ev.events;
	c->state = S_TCP;
	c->deadline = now_ns() + (uint64_t)(r->o.timeout * (double)NS);
	if (kind == K_IDLE) {
		w->in_flight++;
	}
	return c;
fail:
	if (kind == K_IDLE) {
		w->in_flight++; /* conn_fail takes it back */
	}
	conn_fail(c);
	return NULL;
}

/* Encodes p at the end of the output buffer. */
static int conn_put(conn *c, const rp_mqtt_packet *p)
{
	size_t n = 0;
	rp_status st;

	st = rp_mqtt_encode(p, RP_MQTT_V311, &c->w->r->lim, c->wbuf + c->wlen, c->wcap - c->wlen,
			    &n);
	if (st != RP_OK) {
		return set_err(c, "MQTT encode", rp_status_str(st));
	}
	c->wlen += n;
	return ST_GO;
}

static int conn_flush(conn *c)
{
	while (c->wlen > 0) {
		size_t n = 0;
		int ret;

		ERR_clear_error();
		ret = SSL_write_ex(c->ssl, c->wbuf, c->wlen, &n);
		if (ret <= 0) {
			return tls_result(c, "TLS write", ret);
		}
		/* Moving the rest is allowed: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER. */
		memmove(c->wbuf, c->wbuf + n, c->wlen - n);
		c->wlen -= n;
	}
	c->want_out = 0;
	return ST_GO;
}

/* ---- MQTT ------------------------------------------------------------------ */

static int send_connect(conn *c)
{
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_CONNECT;
	p.u.connect.version = RP_MQTT_V311;
	p.u.connect.clean_start = 1;
	p.u.connect.keepalive = (uint16_t)c->w->r->o.keepalive;
	p.u.connect.client_id.p = (const uint8_t *)c->id->id;
	p.u.connect.client_id.len = (uint32_t)strlen(c->id->id);
	return conn_put(c, &p);
}

static int send_subscribe(conn *c)
{
	rp_mqtt_sub_entry e;
	rp_mqtt_packet p;

	memset(&e, 0, sizeof(e));
	e.filter.p = (const uint8_t *)BENCH_SUB;
	e.filter.len = (uint32_t)strlen(BENCH_SUB);
	e.qos = (uint8_t)c->w->r->o.qos;
	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_SUBSCRIBE;
	p.u.subscribe.packet_id = 1;
	p.u.subscribe.count = 1;
	p.u.subscribe.entries = &e;
	return conn_put(c, &p);
}

static int send_simple(conn *c, uint8_t type, uint16_t packet_id)
{
	rp_mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = type;
	p.u.ack.packet_id = packet_id;
	return conn_put(c, &p);
}

/*
 * The publisher's PUBLISH, encoded once by the codec. Only the packet
 * identifier (QoS 1) and the payload's first STAMP_LEN bytes change later;
 * their offsets follow from the 3.1.1 layout: ... topic, [packet id],
 * payload (the rest of the packet).
 */
static int make_template(conn *c)
{
	const opts *o = &c->w->r->o;
	char topic[96];
	uint8_t *payload = calloc(1, o->payload);
	rp_mqtt_packet p;
	size_t size = 0;
	int rc = ST_FAIL;

	snprintf(topic, sizeof(topic), "d/%s/%s", c->id->id,
		 o->telemetry ? "telemetry" : BENCH_TOPIC);
	if (payload != NULL && o->telemetry) {
		/* SenML: one record whose value (a space-padded decimal field) put_publish
		 * rewrites; the rest of --payload is JSON white space. */
		memset(payload, ' ', o->payload);
		memcpy(payload, SENML_HEAD, sizeof(SENML_HEAD) - 1u);
		memcpy(payload + SENML_NUM_OFF + SENML_NUM_LEN, "}]", 2);
	}
	memset(&p, 0, sizeof(p));
	p.type = RP_MQTT_PUBLISH;
	p.u.publish.qos = (uint8_t)o->qos;
	p.u.publish.packet_id = o->qos > 0 ? 1u : 0u;
	p.u.publish.topic.p = (const uint8_t *)topic;
	p.u.publish.topic.len = (uint32_t)strlen(topic);
	p.u.publish.payload.p = payload;
	p.u.publish.payload.len = o->payload;
	if (payload == NULL ||
	    rp_mqtt_encoded_size(&p, RP_MQTT_V311, &c->w->r->lim, &size) != RP_OK) {
		set_err(c, "MQTT encode", "PUBLISH template");
		goto out;
	}
	c->tmpl = malloc(size);
	if (c->tmpl == NULL ||
	    rp_mqtt_encode(&p, RP_MQTT_V311, &c->w->r->lim, c->tmpl, size, &c->tmpl_len) != RP_OK) {
		set_err(c, "MQTT encode", "PUBLISH template");
		goto out;
	}
	c->pay_off = c->tmpl_len - o->payload;
	c->pid_off = c->pay_off - 2u;
	rc = ST_GO;
out:
	free(payload);
	return rc;
}

static void put_publish(conn *c)
{
	uint8_t *m = c->wbuf + c->wlen;
	uint32_t who[2];
	uint64_t when;

	memcpy(m, c->tmpl, c->tmpl_len);
	if (c->w->r->o.qos > 0) {
		m[c->pid_off] = (uint8_t)(c->next_pid >> 8);
		m[c->pid_off + 1u] = (uint8_t)(c->next_pid & 0xFFu);
		c->next_pid = c->next_pid == 0xFFFFu ? 1u : (uint16_t)(c->next_pid + 1u);
		c->inflight++;
	}
	if (c->w->r->o.telemetry) {
		char num[SENML_NUM_LEN + 1];

		snprintf(num, sizeof(num), "%*llu", (int)SENML_NUM_LEN,
			 (unsigned long long)((uint64_t)c->pub << 32 | (uint32_t)c->seq++));
		memcpy(m + c->pay_off + SENML_NUM_OFF, num, SENML_NUM_LEN);
		c->wlen += c->tmpl_len;
		c->w->sent++;
		return;
	}
	/* Payload: publisher index, sequence (low 32 bits), send time. Host order:
	 * only this process reads it. */
	who[0] = c->pub;
	who[1] = (uint32_t)c->seq++;
	when = now_ns();
	memcpy(m + c->pay_off, who, sizeof(who));
	memcpy(m + c->pay_off + 8u, &when, sizeof(when));
	c->wlen += c->tmpl_len;
	c->w->sent++;
}

/* Closed loop: 1 if the publisher may send one more message end to end. */
static int pub_credit(const conn *c)
{
	const run *r = c->w->r;

	if (r->o.e2e_window == 0) {
		return 1;
	}
	return c->seq - atomic_load_explicit(&r->delivered[c->pub].n, memory_order_relaxed) <
	       r->o.e2e_window;
}

/*
 * Publishers: QoS 1 tops the PUBACK window up; QoS 0 queues up to one batch
 * once the socket took the last. Both within the end-to-end credit. Returns
 * 1 if the publisher could send more right away (the worker should not
 * sleep).
 */
static int pub_fill(conn *c)
{
	const opts *o = &c->w->r->o;
	size_t cap = o->qos > 0 ? c->wcap : QOS0_BATCH;

	if (c->w->phase != PH_RUN || c->state != S_READY || c->want_out) {
		return 0;
	}
	while ((o->qos == 0 || c->inflight < o->window) && c->wlen + c->tmpl_len <= cap &&
	       pub_credit(c)) {
		put_publish(c);
	}
	return o->qos == 0 && o->e2e_window == 0;
}

static void on_message(conn *c, const rp_mqtt_publish *p)
{
	worker *w = c->w;
	run *r = w->r;
	uint64_t now = now_ns(), stamp;
	uint32_t who;

	w->received++;
	if (p->payload.len < STAMP_LEN) {
		return;
	}
	memcpy(&who, p->payload.p, sizeof(who));
	if (who < r->o.publishers) {
		atomic_fetch_add_explicit(&r->delivered[who].n, 1u, memory_order_relaxed);
		w->credited = 1;
	}
	if (!in_window(w, now)) {
		return;
	}
	memcpy(&stamp, p->payload.p + 8, sizeof(stamp));
	if (stamp > now) {
		return;
	}
	w->in_window++;
	w->hist[hist_index(now - stamp)]++;
	if (now - stamp > w->lat_max) {
		w->lat_max = now - stamp;
	}
}

static int begin_close(conn *c);

/* CONNACK accepted: what each kind does next. */
static int on_connected(conn *c)
{
	worker *w = c->w;
	run *r = w->r;
	uint64_t now = now_ns();

	c->connected = 1;
	c->state = S_READY;
	switch (c->kind) {
	case K_SHAKE:
		if (w->phase == PH_WARM) {
			w->warm_ok++;
		} else if (in_window(w, now)) {
			w->ok++;
			w->reused += SSL_session_reused(c->ssl) ? 1u : 0u;
			atomic_fetch_add(&r->ok_total, 1u);
		}
		return begin_close(c);
	case K_IDLE:
		c->deadline = 0;
		w->ok++;
		w->in_flight--;
		return ST_GO;
	case K_SUB:
		c->state = S_SUBACK;
		return send_subscribe(c);
	default:
		c->deadline = 0;
		if (make_template(c) != ST_GO) {
			return ST_FAIL;
		}
		atomic_fetch_add(&r->pubs_ready, 1u);
		return ST_GO;
	}
}

static int on_packet(conn *c, const rp_mqtt_packet *p)
{
	char why[64];

	switch (p->type) {
	case RP_MQTT_CONNACK:
		if (c->state != S_CONNACK) {
			return set_err(c, "MQTT", "unexpected CONNACK");
		}
		if (p->u.connack.reason_code != RP_MQTT311_CONNACK_ACCEPTED) {
			snprintf(why, sizeof(why), "CONNACK refused, return code %u",
				 p->u.connack.reason_code);
			return set_err(c, "MQTT", why);
		}
		return on_connected(c);
	case RP_MQTT_SUBACK:
		if (c->state != S_SUBACK || p->u.suback.count != 1 ||
		    p->u.suback.reason_codes[0] >= 0x80u) {
			return set_err(c, "MQTT", "SUBSCRIBE refused");
		}
		c->state = S_READY;
		c->deadline = 0;
		atomic_store(&c->w->r->sub_ready, 1u);
		return ST_GO;
	case RP_MQTT_PUBLISH:
		if (c->kind != K_SUB) {
			return set_err(c, "MQTT", "unexpected PUBLISH");
		}
		on_message(c, &p->u.publish);
		if (p->u.publish.qos == 1) {
			return send_simple(c, RP_MQTT_PUBACK, p->u.publish.packet_id);
		}
		return ST_GO;
	case RP_MQTT_PUBACK:
		if (c->kind != K_PUB || c->inflight == 0) {
			return set_err(c, "MQTT", "unexpected PUBACK");
		}
		c->inflight--;
		c->w->acked++;
		if (c->w->phase == PH_RUN) {
			c->w->acked_in_window++;
		}
		return ST_GO;
	case RP_MQTT_PINGRESP:
		return ST_GO;
	default:
		snprintf(why, sizeof(why), "unexpected %s", rp_mqtt_type_str(p->type));
		return set_err(c, "MQTT", why);
	}
}

/* Decodes and handles every whole packet in the receive buffer. */
static int conn_parse(conn *c)
{
	size_t off = 0;
	int rc = ST_GO;

	while (off < c->rlen && c->state != S_CLOSING) {
		rp_mqtt_packet p;
		size_t used = 0;
		rp_status st;

		st = rp_mqtt_decode(c->rbuf + off, c->rlen - off, RP_MQTT_V311, &c->w->r->lim, &p,
				    &used);
		if (st == RP_NEED_MORE) {
			break;
		}
		if (st != RP_OK) {
			return set_err(c, "MQTT decode", rp_status_str(st));
		}
		/* Leave room for the answers (PUBACK: 4 bytes per packet). */
		if (c->wcap - c->wlen < 16u) {
			rc = conn_flush(c);
			if (rc != ST_GO) {
				return rc;
			}
			if (c->wcap - c->wlen < 16u) {
				break; /* the broker does not read: stop reading too */
			}
		}
		rc = on_packet(c, &p);
		off += used;
		if (rc != ST_GO) {
			break;
		}
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	return rc;
}

static int conn_read(conn *c)
{
	while (c->state != S_CLOSING) {
		size_t n = 0;
		int rc, ret;

		if (c->rlen == c->rcap) {
			if (c->wcap - c->wlen < 16u) {
				return ST_GO; /* blocked on our own output: wait for EPOLLOUT */
			}
			return set_err(c, "MQTT", "packet larger than the receive buffer");
		}
		ERR_clear_error();
		ret = SSL_read_ex(c->ssl, c->rbuf + c->rlen, c->rcap - c->rlen, &n);
		if (ret <= 0) {
			rc = tls_result(c, c->state == S_READY ? "TLS read" : "handshake", ret);
			c->read_blocked = rc == ST_GO && c->want_out;
			return rc;
		}
		c->read_blocked = 0;
		c->rlen += n;
		rc = conn_parse(c);
		if (rc != ST_GO) {
			return rc;
		}
	}
	return ST_GO;
}

/* ---- closing --------------------------------------------------------------- */

/*
 * DISCONNECT (if connected), close_notify, then wait for the broker to
 * close: the slot is reused only once the broker has done its part.
 */
static int closing_step(conn *c)
{
	uint8_t sink[4096];

	if (conn_flush(c) != ST_GO || c->wlen > 0) {
		return c->what != NULL ? ST_DONE : ST_GO;
	}
	if (!c->shut_sent) {
		int ret;

		ERR_clear_error();
		ret = SSL_shutdown(c->ssl);
		if (ret == 1) {
			return ST_DONE;
		}
		if (ret < 0) {
			int e = SSL_get_error(c->ssl, ret);

			ERR_clear_error();
			if (e == SSL_ERROR_WANT_WRITE) {
				c->want_out = 1;
				return ST_GO;
			}
			return c->verdict_open ? set_err(c, "close", "close_notify refused")
					       : ST_DONE;
		}
		c->shut_sent = 1;
		c->want_out = 0;
	}
	for (;;) {
		size_t n = 0;
		int ret, e;

		ERR_clear_error();
		ret = SSL_read_ex(c->ssl, sink, sizeof(sink), &n);
		if (ret > 0) {
			continue;
		}
		e = SSL_get_error(c->ssl, ret);
		if (e == SSL_ERROR_WANT_READ) {
			return ST_GO;
		}
		if (e == SSL_ERROR_WANT_WRITE) {
			c->want_out = 1;
			return ST_GO;
		}
		if (c->verdict_open && e != SSL_ERROR_ZERO_RETURN && ERR_peek_error() != 0) {
			/* --no-mqtt: an alert instead of a close, e.g. certificate refused. */
			return tls_result(c, "handshake", ret);
		}
		ERR_clear_error();
		if (c->verdict_open) {
			worker *w = c->w;

			if (w->phase == PH_WARM) {
				w->warm_ok++;
			} else if (in_window(w, now_ns())) {
				w->ok++;
				w->reused += SSL_session_reused(c->ssl) ? 1u : 0u;
				atomic_fetch_add(&w->r->ok_total, 1u);
			}
			c->verdict_open = 0;
		}
		return ST_DONE;
	}
}

static int begin_close(conn *c)
{
	int rc;

	if (c->connected) {
		rc = send_simple(c, RP_MQTT_DISCONNECT, 0);
		if (rc != ST_GO) {
			return rc;
		}
	}
	c->state = S_CLOSING;
	c->deadline = now_ns() + CLOSE_NS;
	return closing_step(c);
}

/* ---- the state machine ----------------------------------------------------- */

static int tcp_step(conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);
	char why[160];

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
		err = errno;
	}
	if (err == EINPROGRESS) {
		return ST_GO;
	}
	if (err != 0) {
		if (strerror_r(err, why, sizeof(why)) != 0) {
			snprintf(why, sizeof(why), "errno %d", err);
		}
		return set_err(c, "TCP connect", why);
	}
	c->state = S_TLS;
	return ST_GO;
}

static int tls_step(conn *c)
{
	int ret;

	ERR_clear_error();
	ret = SSL_connect(c->ssl);
	if (ret != 1) {
		return tls_result(c, "handshake", ret);
	}
	c->want_out = 0;
	if (c->kind == K_SHAKE && !c->w->r->o.mqtt) {
		/*
		 * TLS 1.3: the client finishes first; the broker may still
		 * refuse the certificate. Success is its clean close.
		 */
		c->verdict_open = 1;
		return begin_close(c);
	}
	c->state = S_CONNACK;
	return send_connect(c);
}

static int conn_drive(conn *c, uint32_t events)
{
	int rc;

	if (c->state == S_TCP) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
			return ST_GO;
		}
		rc = tcp_step(c);
		if (rc != ST_GO || c->state == S_TCP) {
			return rc;
		}
	}
	if (c->state == S_TLS) {
		rc = tls_step(c);
		if (rc != ST_GO || c->state == S_TLS) {
			return rc;
		}
	}
	if (c->state == S_CLOSING) {
		return closing_step(c);
	}
	rc = conn_flush(c);
	if (rc != ST_GO) {
		return rc;
	}
	/* A QoS 0 publisher woken only to write has nothing to read. */
	if (c->kind != K_PUB || (events & ~(uint32_t)EPOLLOUT) != 0 || c->read_blocked ||
	    SSL_has_pending(c->ssl)) {
		rc = conn_read(c);
		if (rc != ST_GO) {
			return rc;
		}
	}
	if (c->state == S_CLOSING) {
		return closing_step(c);
	}
	if (c->kind == K_PUB) {
		(void)pub_fill(c);
	}
	return conn_flush(c);
}

static void conn_after(conn *c, int rc)
{
	if (rc == ST_FAIL) {
		conn_fail(c);
	} else if (rc == ST_DONE) {
		conn_free(c);
	} else {
		conn_watch(c);
	}
}

static void check_deadlines(worker *w, uint64_t now)
{
	for (unsigned i = 0; i < w->nslots; i++) {
		conn *c = w->slots[i];

		if (c == NULL || c->deadline == 0 || now < c->deadline) {
			continue;
		}
		if (c->state == S_CLOSING && !c->verdict_open) {
			conn_free(c); /* the broker did not close in time: not a failure */
			continue;
		}
		w->timeouts++;
		set_err(c, "timeout",
			c->state == S_TCP       ? "TCP connect"
			: c->state == S_TLS     ? "TLS handshake"
			: c->state == S_CONNACK ? "waiting for CONNACK"
			: c->state == S_SUBACK  ? "waiting for SUBACK"
						: "waiting for the broker to close");
		conn_fail(c);
	}
}

static void close_all(worker *w, int gently)
{
	for (unsigned i = 0; i < w->nslots; i++) {
		conn *c = w->slots[i];

		if (c == NULL) {
			continue;
		}
		if (gently && c->state == S_READY) {
			conn_after(c, begin_close(c));
		} else if (!gently || c->state != S_CLOSING) {
			conn_free(c);
		}
	}
}

/* ---- workers ---------------------------------------------------------------- */

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	conn *c = SSL_get_app_data(ssl);

	if (c == NULL || c->id == NULL) {
		return 0;
	}
	SSL_SESSION_free(c->id->sess);
	c->id->sess = sess; /* we keep the reference */
	return 1;
}

static SSL_CTX *make_ctx(const run *r)
{
	const opts *o = &r->o;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;

	if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
		goto fail;
	}
	if (o->mode == M_IDLE) {
		mode |= SSL_MODE_RELEASE_BUFFERS;
	}
	SSL_CTX_set_mode(ctx, mode);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (o->verify_server) {
		if (!SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) ||
		    !X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx), "127.0.0.1")) {
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (o->mode == M_RESUMED) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
							    SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, on_new_session);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	return ctx;
fail:
	ERR_print_errors_fp(stderr);
	SSL_CTX_free(ctx);
	return NULL;
}

/* Handshake modes: keep every slot busy while the phase allows. */
static void tick_handshakes(worker *w, uint64_t now)
{
	run *r = w->r;
	unsigned c_total = r->o.concurrency, warm_idle = 0;

	for (unsigned s = 0; s < w->nslots; s++) {
		unsigned g = w->first + s, j;

		if (w->slots[s] != NULL || now < w->retry_at[s]) {
			continue;
		}
		if (w->phase == PH_WARM) {
			if (w->iter[s] >= r->per_slot) {
				warm_idle++;
				continue;
			}
		} else if (w->phase != PH_RUN || now >= w->t_end ||
			   (r->o.count > 0 && atomic_load(&r->ok_total) >= r->o.count)) {
			continue;
		}
		j = w->iter[s]++ % r->per_slot;
		(void)conn_start(w, K_SHAKE, &r->ids[g + c_total * j], s);
	}
	if (w->phase == PH_WARM && warm_idle == w->nslots && !w->flagged) {
		w->flagged = 1;
		atomic_fetch_add(&r->flagged, 1u);
	}
}

static void tick_idle(worker *w)
{
	run *r = w->r;

	if (w->phase != PH_RUN) {
		return;
	}
	while (w->in_flight < w->r->o.concurrency && w->next_open < w->nslots) {
		unsigned s = w->next_open++;

		(void)conn_start(w, K_IDLE, &r->ids[w->first + s], s);
	}
	if (!w->flagged && w->next_open == w->nslots && w->in_flight == 0) {
		w->flagged = 1;
		atomic_fetch_add(&r->flagged, 1u);
	}
}

/*
 * Throughput: lets every publisher of the worker send what its windows
 * allow (credit comes back through the subscriber, not through the
 * publisher's own socket), and notes whether one could send more at once.
 */
static void kick_publishers(worker *w)
{
	w->spin = 0;
	for (unsigned s = 0; s < w->nslots; s++) {
		conn *c = w->slots[s];
		int more;

		if (c == NULL || c->kind != K_PUB || c->state != S_READY) {
			continue;
		}
		more = pub_fill(c);
		conn_after(c, conn_flush(c));
		if (more && w->slots[s] == c && c->wlen == 0 && !c->want_out) {
			w->spin = 1;
		}
	}
}

/* The subscriber freed credit: wake the other workers' publishers. */
static void wake_others(worker *w)
{
	run *r = w->r;
	uint64_t one = 1;

	w->credited = 0;
	for (unsigned i = 0; i < r->o.threads; i++) {
		if (i != w->index && r->w[i].efd >= 0) {
			(void)!write(r->w[i].efd, &one, sizeof(one));
		}
	}
}

static void on_phase(worker *w, enum phase ph)
{
	run *r = w->r;
	unsigned s0 = w->index == 0 ? 1u : 0u;

	w->phase = ph;
	w->t_start = atomic_load(&r->t_start);
	w->t_end = atomic_load(&r->t_end);
	if (r->o.mode != M_THROUGHPUT) {
		return;
	}
	switch (ph) {
	case PH_SETUP_SUB:
		if (w->index == 0) {
			(void)conn_start(w, K_SUB, &r->sub, 0);
		}
		break;
	case PH_SETUP_PUB:
		for (unsigned s = s0; s < w->nslots; s++) {
			unsigned p = w->index + (s - s0) * r->o.threads;
			conn *c = conn_start(w, K_PUB, &r->ids[p], s);

			if (c != NULL) {
				c->pub = p;
			}
		}
		break;
	case PH_END:
		close_all(w, 1);
		break;
	default:
		break;
	}
}

static int worker_finished(const worker *w)
{
	switch (w->r->o.mode) {
	case M_IDLE:
		return w->phase == PH_END;
	case M_THROUGHPUT:
		return w->phase == PH_END && w->live == 0;
	default:
		return (w->phase == PH_DRAIN && w->live == 0) || w->phase == PH_END;
	}
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	run *r = w->r;
	struct epoll_event evs[MAX_EVENTS];

	for (;;) {
		enum phase ph = (enum phase)atomic_load(&r->phase);
		uint64_t now = now_ns();
		int n;

		if (ph != w->phase) {
			on_phase(w, ph);
		}
		if (r->o.mode == M_HANDSHAKES || r->o.mode == M_RESUMED) {
			tick_handshakes(w, now);
		} else if (r->o.mode == M_IDLE) {
			tick_idle(w);
		}
		if (worker_finished(w)) {
			break;
		}
		n = epoll_wait(w->ep, evs, MAX_EVENTS, w->spin ? 0 : 5);
		for (int i = 0; i < n; i++) {
			conn *c = evs[i].data.ptr;
			uint64_t junk;

			if (c == NULL) {
				(void)!read(w->efd, &junk, sizeof(junk)); /* the wake-up eventfd */
				continue;
			}
			conn_after(c, conn_drive(c, evs[i].events));
		}
		if (w->credited && r->o.threads > 1) {
			wake_others(w);
		}
		if (r->o.mode == M_THROUGHPUT && w->phase == PH_RUN) {
			kick_publishers(w);
		} else {
			w->spin = 0;
		}
		now = now_ns();
		if (now >= w->next_tick) {
			check_deadlines(w, now);
			w->next_tick = now + TICK_NS;
		}
	}
	close_all(w, 0);
	atomic_fetch_add(&r->flagged, 1u);
	return NULL;
}

/* Splits `total` between the workers: worker i gets [*first, *first + *n). */
static void share(unsigned total, unsigned parts, unsigned i, unsigned *first, unsigned *n)
{
	unsigned base = total / parts, extra = total % parts;

	*n = base + (i < extra ? 1u : 0u);
	*first = i * base + (i < extra ? i : extra);
}

static int worker_init(run *r, unsigned i)
{
	worker *w = &r->w[i];
	const opts *o = &r->o;

	w->r = r;
	w->index = i;
	w->phase = PH_INIT;
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->ctx = make_ctx(r);
	if (w->ep < 0 || w->ctx == NULL) {
		return 0;
	}
	if (o->mode == M_THROUGHPUT && o->threads > 1) {
		struct epoll_event ev;

		w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = NULL;
		if (w->efd < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->efd, &ev) != 0) {
			return 0;
		}
	}
	switch (o->mode) {
	case M_IDLE:
		share(o->count, o->threads, i, &w->first, &w->nslots);
		break;
	case M_THROUGHPUT:
		w->nslots = o->publishers / o->threads + (i < o->publishers % o->threads ? 1u : 0u);
		w->nslots += i == 0 ? 1u : 0u;
		break;
	default:
		share(o->concurrency, o->threads, i, &w->first, &w->nslots);
		break;
	}
	w->slots = calloc(w->nslots + 1u, sizeof(*w->slots));
	w->iter = calloc(w->nslots + 1u, sizeof(*w->iter));
	w->retry_at = calloc(w->nslots + 1u, sizeof(*w->retry_at));
	return w->slots != NULL && w->iter != NULL && w->retry_at != NULL;
}

static void worker_free(worker *w)
{
	if (w->ep >= 0) {
		close(w->ep);
	}
	if (w->efd >= 0) {
		close(w->efd);
	}
	SSL_CTX_free(w->ctx);
	free(w->slots);
	free(w->iter);
	free(w->retry_at);
}

static int start_workers(run *r)
{
	sigset_t all, old;
	int ok = 1;

	/* Signals go to the main thread only. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < r->o.threads; i++) {
		if (pthread_create(&r->w[i].thread, NULL, worker_main, &r->w[i]) != 0) {
			ok = 0;
			break;
		}
		r->w[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ok;
}

static void join_workers(run *r)
{
	for (unsigned i = 0; i < r->o.threads; i++) {
		if (r->w[i].started) {
			pthread_join(r->w[i].thread, NULL);
			r->w[i].started = 0;
		}
	}
}

/* Waits until cond(r) holds, a signal arrives, or `ns` pass. Returns cond(r). */
static int wait_for(run *r, int (*cond)(run *), uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (!cond(r)) {
		if (got_signal || now_ns() >= end) {
			return 0;
		}
		sleep_ns(2u * MS);
	}
	return 1;
}

static int all_flagged(run *r)
{
	return atomic_load(&r->flagged) >= r->o.threads;
}

static int sub_ready(run *r)
{
	return atomic_load(&r->sub_ready) != 0 || atomic_load(&r->setup_failed) != 0;
}

static int pubs_ready(run *r)
{
	return atomic_load(&r->pubs_ready) >= r->o.publishers || atomic_load(&r->setup_failed) != 0;
}

static int count_reached(run *r)
{
	return r->o.count > 0 && atomic_load(&r->ok_total) >= r->o.count;
}

/* Sets the measurement window [now + delay, + duration) and the phase. */
static uint64_t open_window(run *r, double delay, enum phase ph)
{
	uint64_t start = now_ns() + (uint64_t)(delay * (double)NS);

	atomic_store(&r->t_start, start);
	atomic_store(&r->t_end, start + (uint64_t)(r->o.duration * (double)NS));
	atomic_store(&r->phase, (int)ph);
	return start;
}

/* Sleeps until t (monotonic ns), a signal, or cond (may be NULL). */
static void sleep_until(run *r, uint64_t t, int (*cond)(run *))
{
	while (now_ns() < t && !got_signal && (cond == NULL || !cond(r))) {
		uint64_t left = t - now_ns();

		sleep_ns(left < 5u * MS ? left : 5u * MS);
	}
}

static void finish(run *r, enum phase drain, uint64_t drain_ns)
{
	atomic_store(&r->flagged, 0u);
	atomic_store(&r->phase, (int)drain);
	if (drain_ns > 0) {
		(void)wait_for(r, all_flagged, drain_ns);
	}
	atomic_store(&r->phase, PH_END);
	join_workers(r);
}

static int run_handshakes(run *r)
{
	const opts *o = &r->o;
	uint64_t ok = 0, failed = 0, timeouts = 0, reused = 0, warm_ok = 0, warm_failed = 0;
	uint64_t start, end;
	cpu_usage u0, u1;
	double secs;

	if (!start_workers(r)) {
		return 1;
	}
	if (o->mode == M_RESUMED) {
		atomic_store(&r->t_end, UINT64_MAX);
		atomic_store(&r->phase, PH_WARM);
		if (!wait_for(r, all_flagged, (uint64_t)(o->timeout * (double)NS) * r->per_slot)) {
			fprintf(stderr, "rp-loadgen: warm-up did not finish\n");
		}
	}
	start = open_window(r, 0.0, PH_RUN);
	usage_sample(r, &u0);
	sleep_until(r, atomic_load(&r->t_end), count_reached);
	end = now_ns();
	usage_sample(r, &u1);
	finish(r, PH_DRAIN, DRAIN_NS);
	for (unsigned i = 0; i < o->threads; i++) {
		const worker *w = &r->w[i];

		ok += w->ok;
		failed += w->failed;
		timeouts += w->timeouts;
		reused += w->reused;
		warm_ok += w->warm_ok;
		warm_failed += w->warm_failed;
	}
	secs = (double)(end - start) / 1e9;
	printf("mode=%s seconds=%.2f ok=%" PRIu64 " failed=%" PRIu64 " timeouts=%" PRIu64
	       " rate=%.1f reused=%" PRIu64 " reused_ratio=%.3f warm_ok=%" PRIu64
	       " warm_failed=%" PRIu64 " concurrency=%u threads=%u mqtt=%d",
	       o->mode == M_RESUMED ? "resumed" : "handshakes", secs, ok, failed, timeouts,
	       (double)ok / secs, reused, ok > 0 ? (double)reused / (double)ok : 0.0, warm_ok,
	       warm_failed, o->concurrency, o->threads, o->mqtt);
	usage_print(&u0, &u1, secs);
	return ok > 0 ? 0 : 1;
}

static int run_throughput(run *r)
{
	const opts *o = &r->o;
	uint64_t sent = 0, acked = 0, received = 0, in_win = 0, failed = 0, lat_max = 0,
		 ack_win = 0;
	uint64_t *hist = calloc(HIST_BUCKETS, sizeof(*hist));
	cpu_usage u0, u1;
	uint64_t start, end;
	double secs;
	int rc = 1;

	if (hist == NULL || !start_workers(r)) {
		goto out;
	}
	atomic_store(&r->phase, PH_SETUP_SUB);
	if (!wait_for(r, sub_ready, SETUP_NS) || atomic_load(&r->setup_failed)) {
		fprintf(stderr, "rp-loadgen: the subscriber could not subscribe\n");
		finish(r, PH_END, 0);
		goto out;
	}
	atomic_store(&r->phase, PH_SETUP_PUB);
	if (!wait_for(r, pubs_ready, SETUP_NS) || atomic_load(&r->setup_failed)) {
		fprintf(stderr, "rp-loadgen: %u of %u publishers connected\n",
			atomic_load(&r->pubs_ready), o->publishers);
		finish(r, PH_END, 0);
		goto out;
	}
	start = open_window(r, o->warmup, PH_RUN);
	sleep_until(r, start, NULL);
	usage_sample(r, &u0);
	sleep_until(r, atomic_load(&r->t_end), NULL);
	end = now_ns();
	usage_sample(r, &u1);
	/* Publishers stop; the subscriber reads what is still on its way. */
	atomic_store(&r->phase, PH_DRAIN);
	sleep_ns(500u * MS);
	finish(r, PH_END, 0);
	for (unsigned i = 0; i < o->threads; i++) {
		const worker *w = &r->w[i];

		sent += w->sent;
		acked += w->acked;
		ack_win += w->acked_in_window;
		received += w->received;
		in_win += w->in_window;
		failed += w->failed;
		lat_max = w->lat_max > lat_max ? w->lat_max : lat_max;
		for (unsigned b = 0; b < HIST_BUCKETS; b++) {
			hist[b] += w->hist[b];
		}
	}
	secs = (double)(end - start) / 1e9;
	printf("mode=throughput qos=%u publishers=%u window=%u e2e_window=%u payload=%u "
	       "seconds=%.2f rate=%.1f in_window=%" PRIu64 " sent=%" PRIu64 " acked=%" PRIu64
	       " received=%" PRIu64 " lost=%" PRIu64 " p50_us=%.1f p99_us=%.1f p999_us=%.1f"
	       " max_us=%.1f failed=%" PRIu64 " threads=%u",
	       o->qos, o->publishers, o->window, o->e2e_window, o->payload, secs,
	       (double)in_win / secs, in_win, sent, acked, received,
	       sent > received ? sent - received : 0u, hist_quantile(hist, in_win, 0.50) / 1e3,
	       hist_quantile(hist, in_win, 0.99) / 1e3, hist_quantile(hist, in_win, 0.999) / 1e3,
	       (double)lat_max / 1e3, failed, o->threads);
	printf(" telemetry=%d acked_in_window=%" PRIu64 " ack_rate=%.1f", o->telemetry, ack_win,
	       (double)ack_win / secs);
	usage_print(&u0, &u1, secs);
	rc = (o->telemetry ? ack_win > 0 : in_win > 0) && failed == 0 ? 0 : 1;
out:
	free(hist);
	return rc;
}

static int run_idle(run *r)
{
	const opts *o = &r->o;
	uint64_t ok = 0, failed = 0, dropped = 0, timeouts = 0;
	uint64_t t0 = now_ns(), t1, open_ns;

	if (!start_workers(r)) {
		return 1;
	}
	atomic_store(&r->phase, PH_RUN);
	/* Each connection has its deadline; all of them together at most IDLE_OPEN_NS. */
	open_ns = (uint64_t)(o->count / o->concurrency + 1u) * (uint64_t)(o->timeout * (double)NS);
	(void)wait_for(r, all_flagged, open_ns < IDLE_OPEN_NS ? open_ns : IDLE_OPEN_NS);
	t1 = now_ns();
	/* Workers' counters are read racily here: a progress report only. */
	for (unsigned i = 0; i < o->threads; i++) {
		ok += *(volatile uint64_t *)&r->w[i].ok;
		failed += *(volatile uint64_t *)&r->w[i].failed;
	}
	printf("ready ok=%" PRIu64 " failed=%" PRIu64 " seconds=%.2f\n", ok, failed,
	       (double)(t1 - t0) / 1e9);
	fflush(stdout);
	sleep_until(r, t1 + (uint64_t)(o->hold * (double)NS), NULL);
	finish(r, PH_END, 0);
	ok = 0;
	failed = 0;
	for (unsigned i = 0; i < o->threads; i++) {
		ok += r->w[i].ok;
		failed += r->w[i].failed;
		dropped += r->w[i].dropped;
		timeouts += r->w[i].timeouts;
	}
	printf("mode=idle count=%u ok=%" PRIu64 " failed=%" PRIu64 " timeouts=%" PRIu64
	       " dropped=%" PRIu64 " open_seconds=%.2f threads=%u\n",
	       o->count, ok, failed, timeouts, dropped, (double)(t1 - t0) / 1e9, o->threads);
	return ok == o->count && dropped == 0 ? 0 : 1;
}

/* One descriptor per connection, plus room for the process itself. */
static int raise_nofile(unsigned need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		return 0;
	}
	if (rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need) {
		fprintf(stderr,
			"rp-loadgen: %u descriptors needed, the hard limit is %lu (ulimit -Hn)\n",
			need, (unsigned long)rl.rlim_max);
		return 0;
	}
	return 1;
}

static unsigned identities_needed(run *r)
{
	const opts *o = &r->o;

	switch (o->mode) {
	case M_IDLE:
		return o->count;
	case M_THROUGHPUT:
		return o->publishers;
	default:
		/* A multiple of the slots, each slot owning per_slot of them. */
		r->per_slot = (o->identities + o->concurrency - 1u) / o->concurrency;
		return r->per_slot * o->concurrency;
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	run *r = calloc(1, sizeof(*r));
	unsigned conns;
	int rc = 1;

	if (r == NULL) {
		return 1;
	}
	for (unsigned i = 0; i < MAX_THREADS; i++) {
		r->w[i].ep = -1;
		r->w[i].efd = -1;
	}
	if (parse_args(argc, argv, &r->o) != 0) {
		usage(stderr);
		rc = 2;
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rp_mqtt_limits_default(&r->lim);
	r->lim.max_packet = 256u * 1024u;
	conns = r->o.mode == M_IDLE         ? r->o.count
		: r->o.mode == M_THROUGHPUT ? r->o.publishers + 1u
					    : r->o.concurrency;
	if (!raise_nofile(conns + 64u)) {
		goto out;
	}
	if (r->o.mode == M_THROUGHPUT) {
		r->delivered = calloc(r->o.publishers, sizeof(*r->delivered));
		if (r->delivered == NULL) {
			goto out;
		}
		for (unsigned i = 0; i < r->o.publishers; i++) {
			atomic_init(&r->delivered[i].n, 0u);
		}
	}
	r->nids = identities_needed(r);
	if (!make_identities(r) || (r->o.mode == M_THROUGHPUT && !load_subscriber(r))) {
		goto out;
	}
	for (unsigned i = 0; i < r->o.threads; i++) {
		if (!worker_init(r, i)) {
			fprintf(stderr, "rp-loadgen: cannot set up worker %u\n", i);
			goto out;
		}
	}
	switch (r->o.mode) {
	case M_IDLE:
		rc = run_idle(r);
		break;
	case M_THROUGHPUT:
		rc = run_throughput(r);
		break;
	default:
		rc = run_handshakes(r);
		break;
	}
out:
	atomic_store(&r->phase, PH_END);
	join_workers(r);
	for (unsigned i = 0; i < MAX_THREADS; i++) {
		worker_free(&r->w[i]);
	}
	for (unsigned i = 0; r->ids != NULL && i < r->nids; i++) {
		free_identity(&r->ids[i]);
	}
	free(r->ids);
	free(r->delivered);
	free_identity(&r->sub);
	free(r);
	return rc;
}
