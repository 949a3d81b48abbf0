/*
 * rampart/senml.h - the device's telemetry as a SenML pack (RFC 8428, JSON).
 *
 * A device collects named values, with units and times, and the writer
 * lays them out as the pack rampartd stores (docs/telemetry.md): base time
 * on the first record, each later record's time relative to it, a name
 * and a unit on every record. A batch is "as many records as fit": a
 * record that does not fit is not written at all, so the caller finishes
 * the pack, publishes it, and starts the next one with that record.
 *
 *     rp_senml_writer w;
 *     rp_senml_init(&w, buf, sizeof(buf));
 *     rp_senml_number(&w, "temp", "Cel", 215, -1, now_ms);     21.5 Cel
 *     rp_senml_bool(&w, "door", NULL, 1, now_ms);
 *     if (rp_senml_finish(&w, &len) == RP_OK) publish(buf, len);
 *
 * Numbers are decimals, mantissa * 10^exp10 (21.5 is 215, -1), written
 * exactly, without floating point: the portable core has no printf, and a
 * sensor's reading is usually a fixed-point integer already.
 *
 * Conventions
 * - Memory: nothing is allocated. The caller's buffer MUST stay valid
 *   until rp_senml_finish(); the writer object is the caller's and its
 *   fields are private.
 * - Errors: a call that fails writes nothing and returns why; the writer
 *   stays usable after RP_E_BUF_TOO_SMALL (finish the pack and start
 *   another) and after RP_E_INVALID_ARG (the value was refused, not the
 *   pack). Names and units are checked against rampartd's rules
 *   (docs/telemetry.md): a pack the writer makes is one rampartd accepts.
 * - Time: Unix milliseconds (a device without a clock may use 0 for
 *   "when received": the record then has no time). Times MAY go backwards
 *   between records.
 * - Threads: a writer is used by one thread at a time.
 *
 * This header is part of the portable core (C99, no OS, no allocation).
 */
#ifndef RAMPART_SENML_H
#define RAMPART_SENML_H

#include <stddef.h>
#include <stdint.h>

#include "rampart/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rp_senml_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	size_t records;
	int64_t base_ms; /* the first record's time, or 0 */
	int has_base;
} rp_senml_writer;

/* Starts an empty pack in buf[0 .. cap). */
void rp_senml_init(rp_senml_writer *w, uint8_t *buf, size_t cap);

/*
 * Adds one record. name: 1 to RP_LIMIT_SENML_NAME_LEN bytes of
 * A-Z a-z 0-9 - : . / _ starting with a letter or a digit. unit: NULL for
 * none, else 1 to RP_LIMIT_SENML_UNIT_LEN bytes of A-Z a-z 0-9 % / . - _.
 * t_ms: Unix milliseconds, 0 for none, else at most
 * RP_LIMIT_SENML_TIME_MAX_MS.
 * - number: mantissa * 10^exp10, -30 <= exp10 <= 30;
 * - bool: value 0 or 1;
 * - string: len bytes of UTF-8 without U+0000, at most
 *   RP_LIMIT_SENML_STRING_LEN.
 * Returns RP_OK; RP_E_INVALID_ARG (NULL, a name, unit, time, exponent or
 * string refused); RP_E_BUF_TOO_SMALL (the record does not fit with the
 * pack's end); RP_E_LIMIT (the pack holds RP_LIMIT_SENML_RECORDS).
 */
rp_status rp_senml_number(rp_senml_writer *w, const char *name, const char *unit, int64_t mantissa,
			  int exp10, int64_t t_ms);
rp_status rp_senml_bool(rp_senml_writer *w, const char *name, const char *unit, int value,
			int64_t t_ms);
rp_status rp_senml_string(rp_senml_writer *w, const char *name, const char *unit, const uint8_t *s,
			  size_t len, int64_t t_ms);

/* Records in the pack so far. */
size_t rp_senml_count(const rp_senml_writer *w);

/*
 * Closes the pack and gives its length (buf[0 .. *len)). Returns RP_OK;
 * RP_E_EMPTY (no record: rampartd refuses an empty pack). The pack's end
 * always fits: every add kept room for it.
 */
rp_status rp_senml_finish(rp_senml_writer *w, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* RAMPART_SENML_H */
