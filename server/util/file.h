/*
 * server/util/file.h - reading small configuration-like files safely.
 */
#ifndef RP_SERVER_FILE_H
#define RP_SERVER_FILE_H

#include <stddef.h>

#include "rampart/status.h"

/*
 * Reads the whole regular file at `path`, of at most `cap` bytes, into a
 * new buffer (free it with rp_free(NULL, *out)). FIFOs and devices are
 * refused without blocking.
 *
 * Returns RP_OK with *out and *out_len; RP_E_CONFIG (cannot open, stat or
 * read; not a regular file; larger than cap) or RP_E_NOMEM, with the
 * reason written to why[0 .. why_cap): "cannot open: No such file or
 * directory", "is not a regular file", "file is larger than N bytes".
 */
rp_status rp_file_read_bounded(const char *path, size_t cap, char **out, size_t *out_len, char *why,
			       size_t why_cap);

#endif /* RP_SERVER_FILE_H */
