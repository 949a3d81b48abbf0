/*
 * server/telemetry/senml.h - the strict SenML (RFC 8428) parser of rampartd.
 *
 * Devices publish telemetry to d/{id}/telemetry as a SenML pack, JSON
 * (application/senml+json) or CBOR (application/senml+cbor).
 * rp_senml_parse() checks the whole pack, resolves it (RFC 8428, 4.6) and
 * returns one resolved record per measurement: name, absolute time, one
 * value, unit. A pack is taken whole or refused whole: on any error
 * nothing of it is returned. docs/telemetry.md is the user's manual; this
 * header is the programmer's.
 *
 * What is accepted (every rule, each refusal naming the record)
 * - A pack is a non-empty array of records (JSON: objects; CBOR: maps).
 *   At most lim->max_records records, lim->max_payload bytes (hard caps
 *   RP_LIMIT_SENML_RECORDS, RP_LIMIT_SENML_PAYLOAD) and
 *   RP_LIMIT_SENML_FIELDS fields per record. Nothing may follow the array.
 * - Labels: bver bn bt bu bv bs n u v vs vb s t ut vd. JSON uses the
 *   strings; CBOR the integers -1 -2 -3 -4 -5 -6 0 1 2 3 4 5 6 7 8 (RFC
 *   8428, table 4). An unknown label is ignored unless it ends in '_'
 *   (must be understood: refused). CBOR: an integer label outside the table
 *   is refused (the table is conclusive, RFC 8428 section 6); a text label
 *   spelling a known label ("n") is refused as ambiguous. No label twice in
 *   a record (JSON and CBOR).
 * - Types: bn bu n u vs are strings; bt bv bs v s t ut numbers; vb a
 *   boolean; vd a string of unpadded base64url (JSON) or a byte string
 *   (CBOR); bver a positive integer (CBOR: unsigned integer only). Numbers
 *   are finite (no NaN, no Infinity) and stay finite once base values are
 *   added. No value of any field (ignored ones included) is an array or an
 *   object/map: SenML does not nest.
 * - Version: bver is a base field; every record must resolve to the same
 *   version (default 10), and a version above RP_SENML_VERSION (10) is
 *   refused (RFC 8428, 4.4).
 * - Names: bn + n, 1..RP_LIMIT_SENML_NAME_LEN bytes of A-Z a-z 0-9 - : . / _,
 *   starting with a letter or digit (RFC 8428, 4.5.1). bn alone must use
 *   that character set.
 * - Units: u, else bu; 1..RP_LIMIT_SENML_UNIT_LEN bytes of A-Z a-z 0-9 and
 *   % / . - _ (the characters of the SenML units registries).
 * - Values: exactly one of v, vs, vb, vd, or none when the record has an
 *   s (a record that carries only a sum). Number = bv + v; sum = bs + s
 *   when either is present. vs: valid UTF-8 without U+0000, at most
 *   RP_LIMIT_SENML_STRING_LEN bytes; vd: at most RP_LIMIT_SENML_DATA_LEN
 *   bytes once decoded, base64url strictly canonical (no padding, no
 *   stray bits). ut: finite and not negative.
 * - Time: bt + t seconds. Below 2**28 it is relative to now_ms (negative
 *   is the past); otherwise seconds since the epoch. The resolved time,
 *   rounded to milliseconds, must lie in 0 .. RP_LIMIT_SENML_TIME_MAX_MS.
 * - A record made only of base fields (bn bt bu bv bs bver, for example
 *   RFC 8428 5.1.7's {"bn":"..."}) sets context and yields no row. A
 *   record with no SenML field at all, or with regular fields but no
 *   value, is refused; so is a pack that yields no row.
 * - CBOR: definite lengths only (RFC 8428 section 6 asks for them; a
 *   streamed SensML array is not accepted), no tags (decimal fractions,
 *   tag 4, included: encode numbers as integers or floats), simple values
 *   false and true only (null and undefined only as the value of an
 *   ignored field), text strings valid UTF-8. Floats may be half, single
 *   or double.
 * - JSON: RFC 8259 text in UTF-8 (no byte order mark), read by a strict
 *   reader of exactly this subset (senml_json.c says why not jansson):
 *   escapes decoded, \u0000 and unpaired surrogates refused, numbers in
 *   the JSON grammar with a lower-case 'e' only (RFC 8428 section 5), at
 *   most RP_LIMIT_SENML_NUMBER_LEN characters, read as doubles; blanks
 *   (space, tab, CR, LF) around tokens.
 *
 * Status (every failure leaves *out empty)
 *   RP_OK                  *out holds >= 1 record
 *   the payload's fault (rp_senml_rejected() is 1), with a reason in why:
 *   RP_E_TOO_LARGE         payload longer than lim->max_payload
 *   RP_E_EMPTY             no record, or no record that yields a row
 *   RP_E_LIMIT             records, fields per record, name, unit, string,
 *                          data or JSON number length
 *   RP_E_PROTOCOL_VERSION  bver above 10, or records of different versions
 *   RP_E_UTF8              a string that is not UTF-8 (JSON: also an
 *                          unpaired surrogate escape)
 *   RP_E_TRAILING          bytes after the pack
 *   RP_E_MALFORMED         every other rule above
 *   the server's fault (rp_senml_rejected() is 0):
 *   RP_E_NOMEM             an allocation failed (not the payload's fault)
 *   RP_E_INVALID_ARG       out NULL, buf NULL with len > 0, bad fmt, now_ms
 *                          out of 0 .. RP_LIMIT_SENML_TIME_MAX_MS
 *   RP_E_INTERNAL          a bug (an invariant did not hold), or a process
 *                          locale whose strtod() does not read JSON numbers
 *
 * What the caller (the broker) should do
 * - Format: the MQTT 5 Content Type when the device sent one
 *   (application/senml+json or application/senml+cbor); otherwise the
 *   first byte: '[' after optional blanks is JSON, 0x80..0x9f (a CBOR
 *   array head) is CBOR. The two never overlap.
 * - RP_OK: store every record in one transaction; only then acknowledge
 *   (QoS 1 PUBACK 0x00).
 * - rp_senml_rejected(st): count a protocol error for the device, log
 *   `why` with the device id, and refuse this message only: MQTT 5 PUBACK
 *   (or PUBREC) with reason code 0x99 Payload format invalid, optionally
 *   with `why` as the Reason String. MQTT 3.1.1 has no negative
 *   acknowledgement: acknowledge and drop, so that the device does not
 *   resend a poison message forever. The connection stays up; other
 *   messages are unaffected.
 * - RP_E_NOMEM: the payload may be fine. Do not acknowledge it (a PUBACK
 *   >= 0x80 would tell the device to drop it): close the connection (MQTT 5
 *   DISCONNECT 0x89 Server busy), so that the device sends it again.
 *
 * Conventions
 * - Ownership: on RP_OK the records and every string they point to belong
 *   to *out and live until rp_senml_pack_free(out). Nothing points into buf;
 *   buf may be freed as soon as the call returns. Output memory is bounded
 *   whatever the payload: the record array (one slot per input record) and
 *   arenas holding each row's name, unit and value; a row repeating the
 *   previous row's name, or using the bu in force, shares that copy. At
 *   most about 2 MB for RP_LIMIT_SENML_RECORDS records (senml.c, "Output").
 * - A zeroed rp_senml_pack is empty and may be freed. rp_senml_parse()
 *   overwrites *out without freeing it: free a used pack first.
 * - why: when why_cap > 0, why receives a NUL-terminated English reason
 *   (cut to why_cap - 1 bytes), "" on RP_OK, for example
 *   "record 3: two values (v and vs)". Records are numbered from 0. Bytes
 *   of the payload quoted in it (an unknown label) are cut to 32 bytes and
 *   everything outside printable ASCII, '"' and '\' are written \xNN: safe
 *   for a log line, a terminal or an MQTT Reason String. why may be NULL
 *   when why_cap is 0.
 * - Allocation: only through server/util/alloc.h, and only for the output
 *   (plus, for JSON, one scratch buffer of len bytes when a string holds
 *   escapes, freed before returning). No decoder builds a tree: the JSON
 *   reader is allocation-free (senml_json.c), and the CBOR front end uses
 *   libcbor's allocation-free streaming decoder (cbor_stream_decode)
 *   rather than cbor_load(): Debian's libcbor 0.8 is built without
 *   CBOR_CUSTOM_ALLOC, so cbor_set_allocs() does not exist and cbor_load()
 *   would call malloc() directly. Nothing global is set; jansson is not
 *   used.
 * - Threads: no global state; rp_senml_parse() may run on any number of
 *   threads at once. JSON numbers are read with strtod(): the process
 *   must keep the "C" locale for LC_NUMERIC (rampartd never calls
 *   setlocale()); with another one, numbers fail closed (RP_E_INTERNAL).
 * - Stack and time: bounded and linear in len; no recursion.
 */
#ifndef RP_SERVER_SENML_H
#define RP_SERVER_SENML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rampart/limits.h"
#include "rampart/status.h"

typedef enum rp_senml_format {
	RP_SENML_JSON = 1, /* application/senml+json */
	RP_SENML_CBOR = 2, /* application/senml+cbor */
} rp_senml_format;

/* The value a record carries. */
typedef enum rp_senml_kind {
	RP_SENML_NONE = 0, /* no value: the record carries only a sum (has_sum is true) */
	RP_SENML_NUMBER,   /* number: finite double (bv + v) */
	RP_SENML_STRING,   /* str, str_len: UTF-8 */
	RP_SENML_BOOL,     /* boolean */
	RP_SENML_DATA,     /* data, data_len: octets */
} rp_senml_kind;

/* One resolved record: what the store keeps as one row. */
typedef struct rp_senml_record {
	const char *name; /* bn + n, NUL-terminated, valid per RFC 8428 4.5.1 */
	size_t name_len;  /* 1 .. RP_LIMIT_SENML_NAME_LEN */
	const char *unit; /* u, else bu, NUL-terminated; NULL when neither */
	size_t unit_len;  /* 0 when unit is NULL */
	int64_t time_ms;  /* absolute, ms since the epoch, 0 .. RP_LIMIT_SENML_TIME_MAX_MS */
	rp_senml_kind kind;
	double number;        /* RP_SENML_NUMBER; else 0 */
	bool boolean;         /* RP_SENML_BOOL; else false */
	const char *str;      /* RP_SENML_STRING: NUL-terminated, no NUL inside; else NULL */
	size_t str_len;       /* bytes, without the NUL */
	const uint8_t *data;  /* RP_SENML_DATA (non-NULL, even when empty); else NULL */
	size_t data_len;      /* bytes */
	bool has_sum;         /* s or bs present */
	double sum;           /* bs + s, finite; 0 when !has_sum */
	bool has_update_time; /* ut present */
	double update_time_s; /* ut, seconds, finite and >= 0 */
} rp_senml_record;

struct rp__senml_chunk;

/* A parsed pack. Zero it before first use; free it with rp_senml_pack_free(). */
typedef struct rp_senml_pack {
	rp_senml_record *records; /* count rows, in pack order */
	size_t count;
	unsigned version;                /* the pack's SenML version, 1 .. 10 */
	struct rp__senml_chunk *chunks_; /* private: arenas holding the strings */
} rp_senml_pack;

/*
 * Limits a configuration may lower (0 in a field: its hard cap). Values
 * above a hard cap are clamped to it.
 */
typedef struct rp_senml_limits {
	size_t max_payload; /* <= RP_LIMIT_SENML_PAYLOAD */
	size_t max_records; /* <= RP_LIMIT_SENML_RECORDS */
} rp_senml_limits;

/*
 * Parses and resolves the SenML pack buf[0 .. len) of format fmt, received
 * at now_ms (ms since the epoch: the "now" of relative times). lim may be
 * NULL (hard caps). On RP_OK *out holds the records; on any failure *out is
 * empty and why tells the reason. Returns the statuses listed at the top
 * of this header.
 */
rp_status rp_senml_parse(const uint8_t *buf, size_t len, rp_senml_format fmt, int64_t now_ms,
			 const rp_senml_limits *lim, rp_senml_pack *out, char *why, size_t why_cap);

/* Frees what *pack holds and zeroes it. pack may be NULL. */
void rp_senml_pack_free(rp_senml_pack *pack);

/*
 * 1 if st, returned by rp_senml_parse(), means the payload is invalid (the
 * device's fault: MQTT 5 reason code 0x99, a protocol error counted for
 * the device); 0 for RP_OK and for the server's own failures (RP_E_NOMEM,
 * RP_E_INVALID_ARG), after which the message must not be refused as
 * malformed.
 */
int rp_senml_rejected(rp_status st);

#endif /* RP_SERVER_SENML_H */
