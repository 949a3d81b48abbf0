/*
 * json.c - jansson's allocator: rp_alloc(), and every block wiped when it
 * is freed (request bodies hold passwords and TOTP codes).
 *
 * Implementation notes
 * - json_set_alloc_funcs() is process-wide and MUST run before the first
 *   jansson allocation, or a block malloc'd before it would reach rp_free.
 *   pthread_once makes it idempotent and thread-safe; main() calls
 *   rp_api_json_init() first thing, rp_api_start() and the tests again.
 * - Uncharged (no budget): request bodies are bounded by the API's own
 *   limits before jansson sees them. Allocation failure inside jansson's
 *   lexer aborts (jansson issue 362; api.h says so), so failure injection
 *   is never pointed at a parse.
 */
#include <pthread.h>

#include "api/internal.h"
#include "util/alloc.h"

static void *json_alloc(size_t n)
{
	return rp_alloc(NULL, n);
}

static void json_free(void *p)
{
	rp_free_secret(NULL, p);
}

static pthread_once_t json_once = PTHREAD_ONCE_INIT;

static void json_setup(void)
{
	json_set_alloc_funcs(json_alloc, json_free);
}

void rp_api_json_init(void)
{
	(void)pthread_once(&json_once, json_setup);
}
