/*
 * init_token.c - the CA keys of `rampart init --pkcs11-*` in PKCS#11
 * tokens: the root key (--alg) in the root's token, the issuing key (P-256)
 * in rampartd's token, each generated there through the keystore
 * (rampart/keystore.h): sensitive and never extractable, so neither key is
 * ever in this process or on a disk. cmd_init.c signs the certificates
 * through the keystores' EVP_PKEYs (init_pki.c).
 *
 * Implementation notes
 * - Order (cmd_init.c): the keystores are opened, and the labels checked
 *   free, with the checks that change nothing (a wrong PIN, a missing
 *   token or module, a label in use: refused before anything is made);
 *   the keys are generated with the other creations, after the store was
 *   found empty.
 * - Rollback: the keystore has no delete (a store of keys that cannot
 *   leave should not lose them by accident either), but a key pair this
 *   very init generated, for a fleet that was then rolled back, must go
 *   with the rest, or the next init would find its label taken. So the
 *   module's own function list is used, as the keystore uses it for
 *   generation: dlopen(RTLD_NOLOAD) gives the instance the keystore loaded
 *   and logged in (PKCS#11 login state is per application and token, so a
 *   new session of ours is logged in too). Only a label that names exactly
 *   one private and one public key object with the same CKA_ID is
 *   destroyed; anything else is left and named.
 * - Attacker: none beyond a token prepared by someone else; labels and
 *   PINs come from the operator's command line and files.
 */
#include <dlfcn.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "init.h"
#include "util/alloc.h"

#define CMD "init"

/* Longest CKA_ID compared at rollback (the keystore makes 16 bytes). */
#define ID_MAX 64u

static int open_one(const char *module, const char *token, const char *pin_file, const char *label,
		    rp_keystore **out)
{
	rp_keystore_config kc;
	char err[RP_KEYSTORE_ERR_MAX] = "", what[128];

	memset(&kc, 0, sizeof(kc));
	kc.backend = "pkcs11";
	kc.module = module;
	kc.token_label = token;
	kc.pin_file = pin_file;
	kc.key_label = label;
	(void)snprintf(what, sizeof(what), "PKCS#11 token '%s'", token);
	if (rp_keystore_open(&kc, out, err, sizeof(err)) != RP_OK) {
		cli_fail(CMD, what, err);
		return -1;
	}
	if (rp_keystore_has_key(*out)) {
		fprintf(stderr,
			"rampart %s: %s: a key labelled '%s' is there already; nothing was "
			"changed (choose another label, or remove that key)\n",
			CMD, what, label);
		return -1;
	}
	return 0;
}

int init_token_open(const init_plan *p, init_token *t)
{
	const init_token_plan *tp = &p->tok;

	memset(t, 0, sizeof(*t));
	if (open_one(tp->module, tp->root_token, tp->root_pin_file, tp->root_label, &t->root) !=
		    0 ||
	    open_one(tp->module, tp->token, tp->pin_file, tp->issuing_label, &t->issuing) != 0) {
		return -1;
	}
	return 0;
}

int init_token_generate(const init_plan *p, init_token *t)
{
	rp_key_type root = p->o->alg == RP_PKI_EC_P384 ? RP_KEY_EC_P384 : RP_KEY_EC_P256;

	if (rp_keystore_generate(t->root, root) != RP_OK) {
		cli_fail(CMD, "root CA key", rp_keystore_error(t->root));
		return -1;
	}
	t->root_made = 1;
	if (rp_keystore_generate(t->issuing, RP_KEY_EC_P256) != RP_OK) {
		cli_fail(CMD, "issuing CA key", rp_keystore_error(t->issuing));
		return -1;
	}
	t->issuing_made = 1;
	return 0;
}

/* ---- rollback -------------------------------------------------------------- */

/* The function list of the module the keystore loaded, or NULL. */
static CK_FUNCTION_LIST_PTR function_list(const char *module)
{
	CK_C_GetFunctionList get = NULL;
	CK_FUNCTION_LIST_PTR fl = NULL;
	void *dl = dlopen(module, RTLD_NOW | RTLD_NOLOAD);
	void *sym = dl != NULL ? dlsym(dl, "C_GetFunctionList") : NULL;

	if (sym != NULL) {
		memcpy(&get, &sym, sizeof(get)); /* object to function pointer (POSIX) */
	}
	if (get == NULL || get(&fl) != CKR_OK) {
		fl = NULL;
	}
	if (dl != NULL) {
		dlclose(dl); /* the keystore keeps its own reference */
	}
	return fl;
}

/* The slot whose token has this label (trailing blanks of the field ignored). */
static int find_slot(CK_FUNCTION_LIST_PTR fl, const char *token, CK_SLOT_ID *out)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0;
	CK_TOKEN_INFO ti;
	size_t want = strlen(token), len;
	int found = -1;

	if (fl->C_GetSlotList(CK_TRUE, NULL, &n) != CKR_OK || n == 0) {
		return -1;
	}
	slots = rp_calloc(NULL, n, sizeof(*slots));
	if (slots == NULL || fl->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK) {
		rp_free(NULL, slots);
		return -1;
	}
	for (CK_ULONG i = 0; i < n && found < 0; i++) {
		if (fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK) {
			continue;
		}
		len = sizeof(ti.label);
		while (len > 0 && ti.label[len - 1u] == ' ') {
			len--;
		}
		if (len == want && memcmp(ti.label, token, len) == 0) {
			*out = slots[i];
			found = 0;
		}
	}
	rp_free(NULL, slots);
	return found;
}

/* The one object of class cls labelled label, with its CKA_ID; -1 if not one. */
static int find_one(CK_FUNCTION_LIST_PTR fl, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
		    const char *label, CK_OBJECT_HANDLE *obj, unsigned char *id, CK_ULONG *id_len)
{
	char lab[RP_CONFIG_KEY_LABEL_MAX + 1u];
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, lab, 0}};
	CK_ATTRIBUTE want = {CKA_ID, id, ID_MAX};
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n = 0;
	size_t len = strlen(label);

	if (len >= sizeof(lab)) {
		return -1;
	}
	memcpy(lab, label, len + 1u); /* the template wants a mutable pointer */
	tmpl[1].ulValueLen = (CK_ULONG)len;
	if (fl->C_FindObjectsInit(s, tmpl, 2) != CKR_OK) {
		return -1;
	}
	if (fl->C_FindObjects(s, found, 2, &n) != CKR_OK) {
		n = 0;
	}
	(void)fl->C_FindObjectsFinal(s);
	if (n != 1 || fl->C_GetAttributeValue(s, found[0], &want, 1) != CKR_OK ||
	    want.ulValueLen == 0 || want.ulValueLen > ID_MAX) {
		return -1;
	}
	*obj = found[0];
	*id_len = want.ulValueLen;
	return 0;
}

/* Destroys the pair labelled label on token; 0 or -1 (printed). */
static int destroy_pair(const char *module, const char *token, const char *label)
{
	CK_FUNCTION_LIST_PTR fl = function_list(module);
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE, pub = CK_INVALID_HANDLE;
	unsigned char priv_id[ID_MAX], pub_id[ID_MAX];
	CK_ULONG priv_len = 0, pub_len = 0;
	CK_SLOT_ID slot = 0;
	int rc = -1;

	if (fl == NULL || find_slot(fl, token, &slot) != 0 ||
	    fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) !=
		    CKR_OK) {
		goto out;
	}
	if (find_one(fl, s, CKO_PRIVATE_KEY, label, &priv, priv_id, &priv_len) != 0 ||
	    find_one(fl, s, CKO_PUBLIC_KEY, label, &pub, pub_id, &pub_len) != 0 ||
	    priv_len != pub_len || memcmp(priv_id, pub_id, priv_len) != 0) {
		goto out;
	}
	if (fl->C_DestroyObject(s, priv) == CKR_OK && fl->C_DestroyObject(s, pub) == CKR_OK) {
		rc = 0;
	}
out:
	if (s != CK_INVALID_HANDLE) {
		(void)fl->C_CloseSession(s); /* this session only, never C_CloseAllSessions */
	}
	if (rc != 0) {
		fprintf(stderr,
			"rampart %s: PKCS#11 token '%s': the key '%s' this init generated could "
			"not be removed; remove it by hand (pkcs11-tool --delete-object --label "
			"'%s', --type privkey and --type pubkey)\n",
			CMD, token, label, label);
	}
	return rc;
}

int init_token_rollback(const init_plan *p, init_token *t)
{
	const init_token_plan *tp = &p->tok;
	int rc = 0;

	if (t->issuing_made) {
		rc |= destroy_pair(tp->module, tp->token, tp->issuing_label);
		t->issuing_made = 0;
	}
	if (t->root_made) {
		rc |= destroy_pair(tp->module, tp->root_token, tp->root_label);
		t->root_made = 0;
	}
	return rc != 0 ? -1 : 0;
}

void init_token_close(init_token *t)
{
	rp_keystore_close(t->issuing);
	rp_keystore_close(t->root);
	memset(t, 0, sizeof(*t));
}
