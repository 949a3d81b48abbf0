/*
 * server/telemetry/internal.h - what the SenML front ends (senml_json.c,
 * senml_cbor.c) share with the resolver (senml.c). Not for other modules.
 *
 * A front end reads the syntax of its format and hands each record to
 * rp__senml_record() as an rp__senml_raw: the fields present, with their
 * types already checked and their strings as views (into the input, or
 * into the JSON reader's scratch for strings with escapes), valid until the
 * front end returns. The
 * resolver applies the base fields, checks every rule that does not depend
 * on the format, and appends the resolved row to the pack.
 */
#ifndef RP_SERVER_SENML_INTERNAL_H
#define RP_SERVER_SENML_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry/senml.h"

/* The labels of RFC 8428, one bit each in rp__senml_raw.have. */
enum rp__senml_label {
	RP__SENML_BVER,
	RP__SENML_BN,
	RP__SENML_BT,
	RP__SENML_BU,
	RP__SENML_BV,
	RP__SENML_BS,
	RP__SENML_N,
	RP__SENML_U,
	RP__SENML_V,
	RP__SENML_VS,
	RP__SENML_VB,
	RP__SENML_S,
	RP__SENML_T,
	RP__SENML_UT,
	RP__SENML_VD,
	RP__SENML_LABELS /* not a label: their number */
};

#define RP__SENML_BIT(l) (1u << (l))

/* The JSON name of each label ("bver", "bn", ...). */
extern const char *const rp__senml_label_name[RP__SENML_LABELS];

/* What a label holds: the front ends check it before filling the raw record. */
enum rp__senml_type {
	RP__SENML_T_STRING, /* bn bu n u vs */
	RP__SENML_T_NUMBER, /* bt bv bs v s t ut */
	RP__SENML_T_BOOL,   /* vb */
	RP__SENML_T_DATA,   /* vd */
	RP__SENML_T_VERSION /* bver */
};
enum rp__senml_type rp__senml_label_type(enum rp__senml_label l);

/* Index of the label named s[0 .. len), or -1. */
int rp__senml_label_find(const char *s, size_t len);

typedef struct rp__senml_view {
	const char *p; /* not NUL-terminated */
	size_t len;
} rp__senml_view;

/* One record as read, before resolution. Only fields with their bit set are meaningful. */
typedef struct rp__senml_raw {
	unsigned have;                      /* RP__SENML_BIT() of each label present */
	rp__senml_view s[RP__SENML_LABELS]; /* string labels; vd: its base64url text (JSON) */
	double num[RP__SENML_LABELS];       /* number labels, finite */
	const uint8_t *data;                /* vd as octets (CBOR) */
	size_t data_len;
	int data_is_b64;  /* 1: vd is s[RP__SENML_VD], base64url text (JSON) */
	uint64_t version; /* bver, >= 1 */
	int vb;           /* vb: 0 or 1 */
} rp__senml_raw;

typedef struct rp__senml_ctx {
	/* Inputs. */
	int64_t now_ms;
	size_t max_records;
	rp_senml_pack *out;
	char *why;
	size_t why_cap;
	/* Output capacity: records allocated by rp__senml_begin(). */
	size_t cap;
	/* Base fields in force (their strings are views valid during the parse). */
	rp__senml_view bn, bu;
	int has_bu, has_bv, has_bs;
	double bt, bv, bs;
	unsigned version; /* in force: 10 unless a bver said otherwise */
	/* Copies in the pack shared by consecutive rows (see senml.c, "Output"). */
	const char *bu_copy;   /* bu in force, once a row used it; NULL otherwise */
	const char *last_name; /* the previous row's name */
	size_t last_name_len;
} rp__senml_ctx;

/* Sentinel for "no record index" in rp__senml_fail(). */
#define RP__SENML_NO_RECORD ((size_t)-1)

/*
 * Records st with a reason in ctx->why: "record <idx>: <fmt...>", or just
 * "<fmt...>" for RP__SENML_NO_RECORD. Returns st.
 */
rp_status rp__senml_fail(rp__senml_ctx *ctx, rp_status st, size_t idx, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Writes s[0 .. len) into buf (cap bytes, NUL-terminated) for a reason:
 * between double quotes, cut to 32 bytes (then "..." follows), every byte
 * outside printable ASCII, '"' and '\' as \xNN. RP__SENML_QUOTE_CAP always
 * suffices.
 */
#define RP__SENML_QUOTE_CAP 136u
void rp__senml_quote(char *buf, size_t cap, const char *s, size_t len);

/*
 * Announces n input records (1 .. ctx->max_records): allocates the output
 * array. Returns RP_OK or RP_E_NOMEM.
 */
rp_status rp__senml_begin(rp__senml_ctx *ctx, size_t n);

/* Resolves record idx and appends its row, if it yields one. */
rp_status rp__senml_record(rp__senml_ctx *ctx, size_t idx, const rp__senml_raw *raw);

/* The front ends. They check the syntax and call begin, then record for each record. */
rp_status rp__senml_json(rp__senml_ctx *ctx, const uint8_t *buf, size_t len);
rp_status rp__senml_cbor(rp__senml_ctx *ctx, const uint8_t *buf, size_t len);

#endif /* RP_SERVER_SENML_INTERNAL_H */
