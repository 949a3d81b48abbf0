/*
 * civetweb_fix.c - makes Debian 12's CivetWeb 1.15 serve HTTPS with
 * OpenSSL 3, or refuses to start.
 *
 * The bug
 * - Debian's libcivetweb1 (1.15+dfsg-4) loads OpenSSL at run time
 *   (dlopen "libssl.so", dlsym of each function into a table) and was built
 *   for the OpenSSL 1.1 API. One name in its table, SSL_get_peer_certificate,
 *   is only a macro in OpenSSL 3 (for SSL_get1_peer_certificate), so its
 *   slot stays NULL, and CivetWeb calls it after every TLS handshake (to
 *   describe the client certificate, whether or not there is one): every
 *   HTTPS connection crashes the process with a jump to address 0. Upstream:
 *   civetweb issue 1334. Every other name of both tables exists in
 *   OpenSSL 3.0.
 *
 * The repair
 * - After mg_init_library(MG_FEATURES_TLS) has filled the table, find that
 *   one slot and put SSL_get1_peer_certificate in it. OpenSSL 1.1's
 *   SSL_get_peer_certificate already returned a new reference (CivetWeb
 *   frees it with X509_free), so get1 is the exact replacement.
 * - Finding the slot without CivetWeb's private headers, and proving it is
 *   the slot: the table is an array of {const char *name; int flags;
 *   void (*ptr)(void);} in the library's writable data. We look for the
 *   string "SSL_get_peer_certificate" in the library's read-only segments,
 *   then for pointers to it in its writable segments. A candidate counts
 *   only if the entries before and after it (one stride away) name C
 *   identifiers in the library's read-only data whose slots hold exactly
 *   what dlsym(RTLD_DEFAULT, name) gives this process: that proves the
 *   layout and the stride. Exactly one candidate must pass, and its slot
 *   must be NULL (then we fill it) or already right.
 * - Anything else (the string present but no provable slot) is
 *   RP_E_CONFIG: rampartd refuses to start its API rather than crash on
 *   the first connection. A CivetWeb that does not mention the name (built
 *   for the OpenSSL 3 API, or linked statically) needs nothing.
 * - The library is initialised once and never released
 *   (mg_exit_library() would dlclose OpenSSL's handles and unload its
 *   configuration modules under the rest of rampartd): one process, one
 *   initialisation, done before any CivetWeb thread exists.
 *
 * The proper fix is a CivetWeb built with OPENSSL_API_3_0; docs/api.md
 * says so. Until Debian ships one, this is the smallest safe repair.
 */
#define _GNU_SOURCE /* dl_iterate_phdr, RTLD_DEFAULT */

#include <civetweb.h>
#include <dlfcn.h>
#include <link.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "api/internal.h"

#define MAX_SEGS  16
#define MAX_NAMES 4

typedef struct seg {
	uintptr_t lo, hi;
	int writable;
} seg;

typedef struct lib {
	seg s[MAX_SEGS];
	size_t n;
	int found;
} lib;

/* The table entry as CivetWeb 1.15 declares it (struct ssl_func). */
typedef struct ssl_func_layout {
	const char *name;
	int flags;
	void (*ptr)(void);
} ssl_func_layout;

#define STRIDE sizeof(ssl_func_layout)
#define PTR_AT offsetof(ssl_func_layout, ptr)

static const char wanted[] = "SSL_get_peer_certificate";

static int find_lib(struct dl_phdr_info *info, size_t size, void *arg)
{
	lib *l = arg;

	(void)size;
	if (info->dlpi_name == NULL || strstr(info->dlpi_name, "/libcivetweb.so") == NULL) {
		return 0;
	}
	for (size_t i = 0; i < info->dlpi_phnum && l->n < MAX_SEGS; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];

		if (p->p_type != PT_LOAD) {
			continue;
		}
		l->s[l->n].lo = (uintptr_t)info->dlpi_addr + (uintptr_t)p->p_vaddr;
		l->s[l->n].hi = l->s[l->n].lo + (uintptr_t)p->p_memsz;
		l->s[l->n].writable = (p->p_flags & PF_W) != 0;
		l->n++;
	}
	l->found = 1;
	return 1;
}

/* 1 if [a, a + n) lies inside one segment of l with the given writability. */
static int inside(const lib *l, uintptr_t a, size_t n, int writable)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->s[i].writable == writable && a >= l->s[i].lo && a <= l->s[i].hi &&
		    n <= l->s[i].hi - a) {
			return 1;
		}
	}
	return 0;
}

static uintptr_t load_ptr(uintptr_t at)
{
	uintptr_t v;

	memcpy(&v, (const void *)at, sizeof(v));
	return v;
}

/* The name an entry points to, if it is a C identifier in read-only data. */
static const char *entry_name(const lib *l, uintptr_t entry, char *out, size_t cap)
{
	uintptr_t p = load_ptr(entry);
	size_t i;

	for (i = 0; i + 1u < cap; i++) {
		char c;

		if (!inside(l, p + i, 1, 0)) {
			return NULL;
		}
		memcpy(&c, (const void *)(p + i), 1);
		if (c == '\0') {
			break;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_')) {
			return NULL;
		}
		out[i] = c;
	}
	if (i == 0 || i + 1u >= cap) {
		return NULL;
	}
	out[i] = '\0';
	return out;
}

/* The entry at `entry` is a resolved table entry: name and pointer agree with dlsym. */
static int entry_ok(const lib *l, uintptr_t entry)
{
	char name[64];
	void *sym;
	uintptr_t want;

	if (!inside(l, entry, STRIDE, 1) || entry_name(l, entry, name, sizeof(name)) == NULL) {
		return 0;
	}
	sym = dlsym(RTLD_DEFAULT, name);
	if (sym == NULL) {
		return 0;
	}
	memcpy(&want, &sym, sizeof(want));
	return load_ptr(entry + PTR_AT) == want;
}

static void set_err(char *err, size_t cap, const char *msg)
{
	if (err != NULL && cap > 0) {
		snprintf(err, cap, "CivetWeb and OpenSSL 3: %s", msg);
	}
}

static rp_status repair(char *err, size_t cap)
{
	X509 *(*get1)(const SSL *) = SSL_get1_peer_certificate;
	uintptr_t names[MAX_NAMES], slot = 0, fix, cur;
	size_t nnames = 0, hits = 0;
	lib l;

	memset(&l, 0, sizeof(l));
	(void)dl_iterate_phdr(find_lib, &l);
	if (!l.found) {
		return RP_OK; /* not a shared libcivetweb: nothing loaded by name */
	}
	/* The name, NUL-terminated and starting a string, in read-only data. */
	for (size_t i = 0; i < l.n; i++) {
		if (l.s[i].writable) {
			continue;
		}
		for (uintptr_t a = l.s[i].lo; a + sizeof(wanted) <= l.s[i].hi; a++) {
			if (memcmp((const void *)a, wanted, sizeof(wanted)) == 0 &&
			    (a == l.s[i].lo || *(const char *)(a - 1u) == '\0') &&
			    nnames < MAX_NAMES) {
				names[nnames++] = a;
			}
		}
	}
	if (nnames == 0) {
		return RP_OK; /* built for the OpenSSL 3 API: nothing to repair */
	}
	/* Pointers to it in writable data, whose neighbours prove the layout. */
	for (size_t i = 0; i < l.n; i++) {
		uintptr_t a0 =
			(l.s[i].lo + sizeof(uintptr_t) - 1u) & ~(uintptr_t)(sizeof(uintptr_t) - 1u);

		if (!l.s[i].writable) {
			continue;
		}
		for (uintptr_t a = a0; a + STRIDE <= l.s[i].hi; a += sizeof(uintptr_t)) {
			uintptr_t v = load_ptr(a);
			int named = 0;

			for (size_t k = 0; k < nnames; k++) {
				named |= v == names[k];
			}
			if (!named || a < l.s[i].lo + STRIDE || !entry_ok(&l, a - STRIDE) ||
			    !entry_ok(&l, a + STRIDE)) {
				continue;
			}
			slot = a + PTR_AT;
			hits++;
		}
	}
	if (hits != 1) {
		set_err(err, cap,
			hits == 0 ? "libcivetweb's OpenSSL table not recognised (see docs/api.md)"
				  : "libcivetweb's OpenSSL table is ambiguous (see docs/api.md)");
		return RP_E_CONFIG;
	}
	memcpy(&fix, &get1, sizeof(fix));
	cur = load_ptr(slot);
	if (cur == 0) {
		memcpy((void *)slot, &fix, sizeof(fix));
	}
	return RP_OK;
}

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static rp_status tls_status = RP_E_INTERNAL;
static char tls_err[160];

static void tls_setup(void)
{
	if (mg_check_feature(MG_FEATURES_TLS) == 0) {
		set_err(tls_err, sizeof(tls_err), "libcivetweb was built without TLS");
		tls_status = RP_E_CONFIG;
		return;
	}
	/*
	 * Debian's 1.15 answers 0 here ("TLS not initialised") because of the
	 * very name repaired below, yet it has filled its table, and mg_start()
	 * then builds its SSL_CTX and calls init_ssl. So the answer is not
	 * used: the repair and init_ssl are the checks.
	 */
	(void)mg_init_library(MG_FEATURES_TLS);
	tls_status = repair(tls_err, sizeof(tls_err));
}

rp_status rp__api_civetweb_tls_init(char *err, size_t err_cap)
{
	(void)pthread_once(&tls_once, tls_setup);
	if (tls_status != RP_OK && err != NULL && err_cap > 0) {
		snprintf(err, err_cap, "%s", tls_err);
	}
	return tls_status;
}
