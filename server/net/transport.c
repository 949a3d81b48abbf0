/*
 * transport.c - the rp_conn dispatch, and the plain TCP transport.
 *
 * Plain TCP exists for the loopback development listener: no handshake, no
 * identity. Its state is the fd and the event the last would-block waited
 * for. A read of 0 bytes is the peer's orderly close.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop/loop.h"
#include "net/transport.h"
#include "util/alloc.h"

typedef struct plain_conn {
	rp_conn base; /* first: an rp_conn * is a plain_conn * */
	unsigned wants;
	int failed;
	const char *err;
} plain_conn;

/* ---- dispatch ------------------------------------------------------------ */

rp_status rp_conn_handshake(rp_conn *c)
{
	if (c == NULL) {
		return RP_E_INVALID_ARG;
	}
	return c->ops->handshake(c);
}

rp_status rp_conn_read(rp_conn *c, uint8_t *buf, size_t cap, size_t *out_len)
{
	if (out_len != NULL) {
		*out_len = 0;
	}
	if (c == NULL || buf == NULL || cap == 0 || out_len == NULL) {
		return RP_E_INVALID_ARG;
	}
	return c->ops->read(c, buf, cap, out_len);
}

rp_status rp_conn_write(rp_conn *c, const uint8_t *buf, size_t len, size_t *out_len)
{
	if (out_len != NULL) {
		*out_len = 0;
	}
	if (c == NULL || out_len == NULL || (buf == NULL && len != 0)) {
		return RP_E_INVALID_ARG;
	}
	if (len == 0) {
		return RP_OK;
	}
	return c->ops->write(c, buf, len, out_len);
}

rp_status rp_conn_shutdown(rp_conn *c)
{
	if (c == NULL) {
		return RP_E_INVALID_ARG;
	}
	return c->ops->shutdown(c);
}

unsigned rp_conn_wants(const rp_conn *c)
{
	return c->ops->wants(c);
}

size_t rp_conn_pending(const rp_conn *c)
{
	return c->ops->pending(c);
}

rp_status rp_conn_peer_identity(const rp_conn *c, rp_peer_identity *id)
{
	if (c == NULL || id == NULL) {
		return RP_E_INVALID_ARG;
	}
	return c->ops->peer_identity(c, id);
}

const char *rp_conn_last_error(const rp_conn *c)
{
	return c->ops->last_error(c);
}

int rp_conn_fd(const rp_conn *c)
{
	return c->fd;
}

const char *rp_conn_kind(const rp_conn *c)
{
	return c->ops->name;
}

void rp_conn_free(rp_conn *c)
{
	if (c != NULL) {
		c->ops->free(c);
	}
}

/* ---- plain TCP ----------------------------------------------------------- */

/* Maps a failed read/write/shutdown (errno set) to a status. */
static rp_status plain_fail(plain_conn *p, unsigned wants_on_block)
{
	int e = errno;

	if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR) {
		p->wants = wants_on_block;
		return RP_NEED_MORE;
	}
	p->failed = 1;
	if (e == ECONNRESET || e == EPIPE) {
		p->err = "connection reset by peer";
		return RP_E_CLOSED;
	}
	p->err = "socket error";
	return RP_E_IO;
}

static rp_status plain_handshake(rp_conn *c)
{
	plain_conn *p = (plain_conn *)c;

	return p->failed ? RP_E_STATE : RP_OK;
}

static rp_status plain_read(rp_conn *c, uint8_t *buf, size_t cap, size_t *out_len)
{
	plain_conn *p = (plain_conn *)c;
	ssize_t n;

	if (p->failed) {
		return RP_E_STATE;
	}
	n = read(c->fd, buf, cap);
	if (n > 0) {
		*out_len = (size_t)n;
		return RP_OK;
	}
	if (n == 0) {
		p->failed = 1;
		p->err = "peer closed the connection";
		return RP_E_CLOSED;
	}
	return plain_fail(p, RP_LOOP_READ);
}

static rp_status plain_write(rp_conn *c, const uint8_t *buf, size_t len, size_t *out_len)
{
	plain_conn *p = (plain_conn *)c;
	ssize_t n;

	if (p->failed) {
		return RP_E_STATE;
	}
	n = send(c->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0) {
		*out_len = (size_t)n;
		return RP_OK;
	}
	return plain_fail(p, RP_LOOP_WRITE);
}

static rp_status plain_shutdown(rp_conn *c)
{
	plain_conn *p = (plain_conn *)c;

	if (p->failed) {
		return RP_E_STATE;
	}
	if (shutdown(c->fd, SHUT_WR) != 0 && errno != ENOTCONN) {
		p->failed = 1;
		p->err = "socket error";
		return RP_E_IO;
	}
	return RP_OK;
}

static unsigned plain_wants(const rp_conn *c)
{
	return ((const plain_conn *)c)->wants;
}

static size_t plain_pending(const rp_conn *c)
{
	(void)c;
	return 0;
}

static rp_status plain_peer_identity(const rp_conn *c, rp_peer_identity *id)
{
	(void)c;
	(void)id;
	return RP_E_NOT_FOUND;
}

static const char *plain_last_error(const rp_conn *c)
{
	return ((const plain_conn *)c)->err;
}

static void plain_free(rp_conn *c)
{
	rp_free(NULL, c);
}

static const rp_conn_ops plain_ops = {
	.name = "tcp",
	.handshake = plain_handshake,
	.read = plain_read,
	.write = plain_write,
	.shutdown = plain_shutdown,
	.wants = plain_wants,
	.pending = plain_pending,
	.peer_identity = plain_peer_identity,
	.last_error = plain_last_error,
	.free = plain_free,
};

rp_conn *rp_conn_new_plain(int fd)
{
	plain_conn *p;

	if (fd < 0) {
		return NULL;
	}
	p = rp_calloc(NULL, 1, sizeof(*p));
	if (p == NULL) {
		return NULL;
	}
	p->base.ops = &plain_ops;
	p->base.fd = fd;
	p->wants = RP_LOOP_READ;
	p->err = "";
	return &p->base;
}
