/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11shim.so: a PKCS#11 module that wraps another one for the tests.
 *
 * P11SHIM_MODULE names the real module (required).  Every entry of the
 * shim's CK_FUNCTION_LIST passes through shim_enter(), which counts the
 * call in the file named by P11SHIM_COUNTS (optional, see
 * p11shim_counts.h) and applies the faults P11SHIM_FAULTS asks for; the
 * wrapper then forwards to the real module and ends with shim_leave().
 * No wrapper knows about faults beyond passing its session handle and
 * its output buffer.
 *
 * Network latency.  P11SHIM_LATENCY_US=N makes every forwarded call
 * (all but C_GetFunctionList) sleep N microseconds first, as a module
 * for a network HSM waits a round trip per call.  The thread sleeps (a
 * round trip burns no CPU), its timer slack lowered to 1 us on its first
 * call so that the kernel does not stretch the delay by its default
 * 50 us.  No lock is taken: callers on different sessions wait side by
 * side, as on a network.  Independent of P11SHIM_FAULTS and counting.
 *
 * Only C_GetFunctionList is exported (p11shim.map).  There is no
 * C_GetInterface: callers must take the PKCS#11 2.40 path.
 *
 * Fault injection.  P11SHIM_FAULTS holds up to 16 rules separated by ';':
 *
 *   RULE  = FUNCS:ITEM[:ITEM]...
 *   FUNCS = C_Name[|C_Name]...  or  *  (every function with a session
 *           handle argument)
 *
 * What a rule does when it fires (at least one of):
 *   CKR_NAME, 0xHEX, DECIMAL  return that code instead of the real call
 *   latency_us=N              sleep N microseconds before the call
 *   remove                    remove the token (below); the call returns
 *                             the rule's code, or gone's
 * When it fires (every condition given must hold; none: every call):
 *   nth=N [times=K]  the rule's Nth matching call (and the K-1 after it)
 *   from=N           the Nth matching call and every later one
 *   every=N          every Nth matching call
 *   rate=P [seed=S]  with probability P (0..1), from a pseudo-random
 *                    sequence fixed by S (default $P11SHIM_SEED, or 1)
 *   max=K            at most K times in all
 * How:
 *   after     forward the call, then return the code with the call's
 *             output overwritten by 0xa5 bytes (the token did the work
 *             and the answer was lost: a caller that uses the output
 *             anyway computes a wrong result)
 *   keep      only return the code.  Without it the token is made to
 *             agree with the code: CKR_SESSION_HANDLE_INVALID and
 *             CKR_SESSION_CLOSED close that session,
 *             CKR_DEVICE_REMOVED and CKR_TOKEN_NOT_PRESENT remove the
 *             token, CKR_USER_NOT_LOGGED_IN logs the token out
 *   gone=CKR  what calls on old sessions return while a removed token is
 *             out (default CKR_DEVICE_REMOVED)
 *   absent=K  the first K C_OpenSession calls after a removal return
 *             CKR_TOKEN_NOT_PRESENT (default 0: re-inserted at once)
 *
 * Example: "C_Digest:CKR_SESSION_HANDLE_INVALID:nth=3;
 * C_OpenSession:CKR_SESSION_COUNT:rate=0.01;C_Sign:latency_us=200".
 * A malformed P11SHIM_FAULTS makes C_GetFunctionList fail, with the
 * reason on stderr.
 *
 * Counting.  A rule counts the calls it matched and its firings in the
 * counter file's fault region when P11SHIM_COUNTS is set (so nth=3 is the
 * third matching call of all processes sharing the file since the last
 * `p11count --reset`), else within this process.  Injected errors (also
 * by thread, for fault_check), delays, removals and refused calls are
 * counted there too; p11count prints them as "fault.*" lines.
 *
 * Hiding mechanisms.  P11SHIM_HIDE_MECHS holds up to 8 mechanism numbers
 * (decimal or 0xHEX, separated by ','), which the shim makes the token
 * lack: C_GetMechanismList leaves them out, and C_GetMechanismInfo,
 * C_DecryptInit and C_SignInit answer CKR_MECHANISM_INVALID for them.
 * Example: "0x3" (CKM_RSA_X_509), for a token without raw RSA.
 *
 * Logging.  P11SHIM_LOG names a file the shim appends one line to for
 * each of these events (each line starts with "pid=N", one write() per
 * line, so processes and threads sharing the file keep lines whole):
 *   rv C_Name CKR_NAME      a forwarded call the real module failed
 *   login user=U pin_len=N rv=CKR_NAME   C_Login; never the PIN itself
 *   object fn=C_Name h=H ATTR=V... tmpl=A[=V],...
 *                           an object C_CreateObject, C_GenerateKey,
 *                           C_GenerateKeyPair (fn=C_GenerateKeyPair.pub
 *                           and .priv), C_DeriveKey, C_UnwrapKey or
 *                           C_CopyObject made, with its attributes as the
 *                           real module reports them afterwards (class,
 *                           key_type, token, private, sensitive,
 *                           extractable, always_sensitive,
 *                           never_extractable and the usage flags; "?"
 *                           where it reports none) and the template's
 *                           attribute names (booleans with their value;
 *                           other values are never written)
 *   destroy h=H rv=CKR_NAME C_DestroyObject
 *   mech C_Name 0xMECH CKR_NAME   C_SignInit and C_DigestInit: which
 *                           mechanism the token was asked for
 * Secrets never reach the log: no PIN, no attribute value but booleans
 * and the two enums above.
 *
 * Call log.  P11SHIM_CALLS names a file the shim appends "pid=N C_Name
 * CKR_NAME" to for every call it forwarded, in the same way.  The file is
 * opened when the shim loads and the descriptor survives fork() (not
 * exec), so a server's workers log into the file their parent opened even
 * when they run as a user who could not open it: what tells a worker's
 * signatures from its master's (tests/lib/P11BE/Server.pm).
 *
 * Token removal, as when a token is pulled out and put back: the real
 * C_CloseAllSessions on every slot this process opened a session on
 * (which also logs the token out), then every call on a session opened
 * before returns gone's code until the next C_OpenSession re-inserts the
 * token, and CKR_SESSION_HANDLE_INVALID after.  The shim refuses those
 * calls itself, as the real module may have given the handle's number to
 * a new session.  A removal waits for the calls in flight, so the real
 * module never has a session closed under a running call.  Besides rules,
 * `p11count --remove` asks every process running with P11SHIM_FAULTS set
 * (even to "") to remove the token before its next call.
 *
 * P11SHIM_FORK_IN_INITIALIZE=1 makes C_Initialize fork a child that exits
 * at once, and wait for it, before forwarding: as p11-kit's remote modules
 * start their helper process (the caller's fork handlers run in it).
 */
#define _GNU_SOURCE /* dladdr(), gettid() */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "p11shim_ckr.h"
#include "p11shim_counts.h"
#include "p11shim_names.h"

/*
 * The counter file and shim_enter() index functions by their position in
 * CK_FUNCTION_LIST; fail the build if the table and the header ever
 * disagree.
 */
#define SHIM_CHECK_ROW(id, fn)                                                 \
    _Static_assert(offsetof(CK_FUNCTION_LIST, fn)                              \
                       == offsetof(CK_FUNCTION_LIST, C_Initialize)             \
                              + (id) * sizeof(CK_C_Initialize),                \
                   #fn " is out of CK_FUNCTION_LIST order");
P11SHIM_FUNCTIONS(SHIM_CHECK_ROW)
#undef SHIM_CHECK_ROW
_Static_assert(sizeof(CK_FUNCTION_LIST)
                   == offsetof(CK_FUNCTION_LIST, C_Initialize)
                          + P11SHIM_FN_COUNT * sizeof(CK_C_Initialize),
               "CK_FUNCTION_LIST has more entries than the shim's table");

/* Where each function's pointer sits in a CK_FUNCTION_LIST. */
/* clang-format cannot see the rows inside the macro. */
/* clang-format off */
#define SHIM_OFFSET_ROW(id, fn) [id] = offsetof(CK_FUNCTION_LIST, fn),
static const size_t shim_offsets[P11SHIM_FN_COUNT] = {
    P11SHIM_FUNCTIONS(SHIM_OFFSET_ROW)
};
#undef SHIM_OFFSET_ROW
/* clang-format on */

/* The functions without a session handle: `*` leaves them out. */
static const enum p11shim_fn shim_sessionless[] = {
    P11SHIM_C_Initialize,       P11SHIM_C_Finalize,
    P11SHIM_C_GetInfo,          P11SHIM_C_GetFunctionList,
    P11SHIM_C_GetSlotList,      P11SHIM_C_GetSlotInfo,
    P11SHIM_C_GetTokenInfo,     P11SHIM_C_GetMechanismList,
    P11SHIM_C_GetMechanismInfo, P11SHIM_C_InitToken,
    P11SHIM_C_OpenSession,      P11SHIM_C_CloseAllSessions,
    P11SHIM_C_WaitForSlotEvent,
};

#define SHIM_MAX_HANDLE 4096       /* session handles removal can track */
#define SHIM_STAMP_DEAD UINT32_MAX /* session closed by an injected fault */
#define SHIM_MAX_SLOTS  8          /* slots a removal empties */
#define SHIM_MAX_HIDDEN 8          /* mechanisms P11SHIM_HIDE_MECHS may hide */

/* One rule of P11SHIM_FAULTS; see the top of the file. */
struct shim_rule {
    unsigned char match[P11SHIM_FN_COUNT]; /* 1: applies to that function */
    CK_RV rv;                              /* code to return */
    int has_rv;                            /* rv was given */
    int remove;                            /* remove the token */
    int keep;                 /* return the code, leave the token alone */
    int after;                /* forward the call first */
    CK_RV gone_rv;            /* old sessions' answer while removed */
    uint64_t absent;          /* opens refused after a removal */
    unsigned long latency_us; /* delay when firing */
    uint64_t nth;             /* fire on this matching call; 0: any */
    uint64_t times;           /* with nth: calls in a row that fire */
    uint64_t from;            /* fire from this matching call on; 0: any */
    uint64_t every;           /* fire on multiples of this; 0: any */
    uint64_t max;             /* firings in all; 0: no limit */
    double rate;              /* probability of firing; < 0: always */
    uint64_t rng;             /* splitmix64 state, for rate */
    uint64_t *calls;          /* calls matched: in the file or local_calls */
    uint64_t *fired;          /* firings: in the file or local_fired */
    uint64_t local_calls;     /* without a counter file */
    uint64_t local_fired;     /* without a counter file */
};

static struct {
    pthread_once_t once;          /* guards shim_load() */
    CK_RV load_rv;                /* CKR_OK once shim_load() succeeded */
    CK_FUNCTION_LIST_PTR real;    /* the wrapped module's list */
    struct p11shim_counts counts; /* counter file; map NULL if not counting */
    int faults_on;                /* P11SHIM_FAULTS is set */
    struct shim_rule rules[P11SHIM_MAX_RULES]; /* parsed P11SHIM_FAULTS */
    int rule_count;                            /* entries in rules */
    struct p11shim_fault_stats *stats;         /* in the file, or local_stats */
    struct p11shim_fault_stats local_stats;    /* without a counter file */
    pthread_rwlock_t token_lock; /* read: a call in flight; write: removal */
    pthread_mutex_t slot_lock;   /* guards slots and slot_count */
    /* (both initialised by fault_init_locks(), used only with faults on) */
    CK_SLOT_ID slots[SHIM_MAX_SLOTS]; /* slots sessions were opened on */
    int slot_count;                   /* entries in slots */
    uint32_t epoch;                   /* removals so far, plus 1 */
    uint32_t stamps[SHIM_MAX_HANDLE]; /* epoch each session opened in */
    int absent;                       /* removed, not yet re-inserted */
    uint64_t absent_opens;            /* opens still to refuse meanwhile */
    CK_RV gone_rv;                    /* old sessions' answer meanwhile */
    uint64_t seen_requests;   /* stats->remove_requests already obeyed */
    int log_fd;               /* P11SHIM_LOG, opened for appending; -1: none */
    int calls_fd;             /* P11SHIM_CALLS, likewise */
    unsigned long latency_us; /* P11SHIM_LATENCY_US; 0: none */
    CK_MECHANISM_TYPE hidden[SHIM_MAX_HIDDEN]; /* P11SHIM_HIDE_MECHS */
    int hidden_count;                          /* entries in hidden */
} shim = {
    .once = PTHREAD_ONCE_INIT,
    .load_rv = CKR_GENERAL_ERROR,
    .epoch = 1,
    .log_fd = -1,
    .calls_fd = -1,
};

/* One call between shim_enter() and shim_leave(). */
struct shim_call {
    enum p11shim_fn fn;            /* the function called */
    CK_SESSION_HANDLE sess;        /* its session; CK_INVALID_HANDLE: none */
    int locked;                    /* holds token_lock for reading */
    const struct shim_rule *after; /* rule to apply once forwarded */
};

/*
 * A test shim has no better channel than stderr, and a silent refusal
 * would leave a test wondering why the module did not load.
 */
static void shim_warn(const char *what, const char *detail)
{
    fprintf(stderr, "p11shim: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
}

/* Appends "pid=N " and the text to fd as one line, in one write. */
static void shim_vlog_to(int fd, const char *fmt, va_list ap)
{
    char line[1024];
    int len;

    if (fd < 0)
        return;
    len = snprintf(line, sizeof(line), "pid=%ld ", (long)getpid());
    len += vsnprintf(line + len, sizeof(line) - (size_t)len - 1, fmt, ap);
    if (len > (int)sizeof(line) - 2)
        len = (int)sizeof(line) - 2;
    line[len++] = '\n';
    if (write(fd, line, (size_t)len) < 0)
        shim_warn("cannot write the shim's log", strerror(errno));
}

/* Appends one line to P11SHIM_LOG. */
static void shim_log(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void shim_log(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    shim_vlog_to(shim.log_fd, fmt, ap);
    va_end(ap);
}

/* Appends one line to P11SHIM_CALLS. */
static void shim_log_call(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void shim_log_call(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    shim_vlog_to(shim.calls_fd, fmt, ap);
    va_end(ap);
}

/* A CKR_* name for the log, or the number. */
static const char *shim_log_ckr(CK_RV rv, char *buf, size_t buf_len)
{
    const char *name = p11shim_ckr_name(rv);

    if (name != NULL)
        return name;
    snprintf(buf, buf_len, "0x%lx", (unsigned long)rv);
    return buf;
}

/* The "mech" line of P11SHIM_LOG for an init of fn with mech. */
static void shim_log_mech(enum p11shim_fn fn, const CK_MECHANISM *mech,
                          CK_RV rv)
{
    char num[32];

    if (shim.log_fd >= 0 && mech != NULL)
        shim_log("mech %s 0x%lx %s", p11shim_fn_names[fn],
                 (unsigned long)mech->mechanism,
                 shim_log_ckr(rv, num, sizeof(num)));
}

/* The attributes an object line reports; all but the first two CK_BBOOL. */
static const struct {
    CK_ATTRIBUTE_TYPE type; /* the attribute */
    const char *name;       /* its name in the log */
} shim_log_attrs[] = {
    {CKA_CLASS, "class"},
    {CKA_KEY_TYPE, "key_type"},
    {CKA_TOKEN, "token"},
    {CKA_PRIVATE, "private"},
    {CKA_SENSITIVE, "sensitive"},
    {CKA_EXTRACTABLE, "extractable"},
    {CKA_ALWAYS_SENSITIVE, "always_sensitive"},
    {CKA_NEVER_EXTRACTABLE, "never_extractable"},
    {CKA_SIGN, "sign"},
    {CKA_VERIFY, "verify"},
    {CKA_ENCRYPT, "encrypt"},
    {CKA_DECRYPT, "decrypt"},
    {CKA_DERIVE, "derive"},
    {CKA_WRAP, "wrap"},
    {CKA_UNWRAP, "unwrap"},
};

/* Template attribute names the log spells out; others are 0x%lx. */
static const struct {
    CK_ATTRIBUTE_TYPE type; /* the attribute */
    const char *name;       /* its CKA_* name */
} shim_log_cka_names[] = {
    {CKA_CLASS, "CKA_CLASS"},
    {CKA_TOKEN, "CKA_TOKEN"},
    {CKA_PRIVATE, "CKA_PRIVATE"},
    {CKA_LABEL, "CKA_LABEL"},
    {CKA_VALUE, "CKA_VALUE"},
    {CKA_KEY_TYPE, "CKA_KEY_TYPE"},
    {CKA_ID, "CKA_ID"},
    {CKA_SENSITIVE, "CKA_SENSITIVE"},
    {CKA_ENCRYPT, "CKA_ENCRYPT"},
    {CKA_DECRYPT, "CKA_DECRYPT"},
    {CKA_WRAP, "CKA_WRAP"},
    {CKA_UNWRAP, "CKA_UNWRAP"},
    {CKA_SIGN, "CKA_SIGN"},
    {CKA_VERIFY, "CKA_VERIFY"},
    {CKA_DERIVE, "CKA_DERIVE"},
    {CKA_MODULUS, "CKA_MODULUS"},
    {CKA_MODULUS_BITS, "CKA_MODULUS_BITS"},
    {CKA_PUBLIC_EXPONENT, "CKA_PUBLIC_EXPONENT"},
    {CKA_PRIVATE_EXPONENT, "CKA_PRIVATE_EXPONENT"},
    {CKA_PRIME_1, "CKA_PRIME_1"},
    {CKA_PRIME_2, "CKA_PRIME_2"},
    {CKA_EXPONENT_1, "CKA_EXPONENT_1"},
    {CKA_EXPONENT_2, "CKA_EXPONENT_2"},
    {CKA_COEFFICIENT, "CKA_COEFFICIENT"},
    {CKA_VALUE_LEN, "CKA_VALUE_LEN"},
    {CKA_EXTRACTABLE, "CKA_EXTRACTABLE"},
    {CKA_EC_PARAMS, "CKA_EC_PARAMS"},
    {CKA_EC_POINT, "CKA_EC_POINT"},
};

/* Appends "what" to buf at *len, as far as it fits. */
static void shim_log_cat(char *buf, size_t buf_len, size_t *len,
                         const char *what)
{
    int n = snprintf(buf + *len, buf_len - *len, "%s", what);

    if (n > 0)
        *len += (size_t)n < buf_len - *len ? (size_t)n : buf_len - *len - 1;
}

/*
 * Logs one object made by fn: its attributes as the real module reports
 * them (one C_GetAttributeValue each, so one the object lacks spoils
 * nothing else) and the template's attribute names.
 */
static void shim_log_object(const char *fn, CK_SESSION_HANDLE sess,
                            CK_OBJECT_HANDLE obj, const CK_ATTRIBUTE *tmpl,
                            CK_ULONG count)
{
    char buf[900];
    char item[64];
    size_t len = 0;
    size_t i, j;
    CK_ULONG k;

    if (shim.log_fd < 0)
        return;
    for (i = 0; i < sizeof(shim_log_attrs) / sizeof(shim_log_attrs[0]); i++) {
        CK_ULONG ulong_value = 0;
        CK_BBOOL bool_value = CK_FALSE;
        CK_ATTRIBUTE attr = {shim_log_attrs[i].type, NULL, 0};
        int is_ulong = i < 2;

        attr.pValue = is_ulong ? (void *)&ulong_value : (void *)&bool_value;
        attr.ulValueLen = is_ulong ? sizeof(ulong_value) : sizeof(bool_value);
        if (shim.real->C_GetAttributeValue(sess, obj, &attr, 1) != CKR_OK)
            snprintf(item, sizeof(item), " %s=?", shim_log_attrs[i].name);
        else if (is_ulong)
            snprintf(item, sizeof(item), " %s=0x%lx", shim_log_attrs[i].name,
                     (unsigned long)ulong_value);
        else
            snprintf(item, sizeof(item), " %s=%d", shim_log_attrs[i].name,
                     bool_value ? 1 : 0);
        shim_log_cat(buf, sizeof(buf), &len, item);
    }
    shim_log_cat(buf, sizeof(buf), &len, " tmpl=");
    for (k = 0; k < count && tmpl != NULL; k++) {
        const char *name = NULL;

        for (j = 0;
             j < sizeof(shim_log_cka_names) / sizeof(shim_log_cka_names[0]);
             j++)
            if (shim_log_cka_names[j].type == tmpl[k].type)
                name = shim_log_cka_names[j].name;
        if (name != NULL)
            snprintf(item, sizeof(item), "%s%s", k > 0 ? "," : "", name);
        else
            snprintf(item, sizeof(item), "%s0x%lx", k > 0 ? "," : "",
                     (unsigned long)tmpl[k].type);
        shim_log_cat(buf, sizeof(buf), &len, item);
        /* Booleans only: no other value is safe to write down. */
        if (tmpl[k].ulValueLen == sizeof(CK_BBOOL) && tmpl[k].pValue != NULL
            && tmpl[k].type != CKA_VALUE && tmpl[k].type != CKA_ID
            && tmpl[k].type != CKA_LABEL) {
            snprintf(item, sizeof(item), "=%d",
                     *(const CK_BBOOL *)tmpl[k].pValue ? 1 : 0);
            shim_log_cat(buf, sizeof(buf), &len, item);
        }
    }
    shim_log("object fn=%s h=%lu%s", fn, (unsigned long)obj, buf);
}

static int shim_log_open_one(const char *name)
{
    const char *path = getenv(name);
    int fd;

    if (path == NULL || *path == '\0')
        return -1;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        fprintf(stderr, "p11shim: cannot open %s: %s\n", name, strerror(errno));
    return fd;
}

static void shim_log_open(void)
{
    shim.log_fd = shim_log_open_one("P11SHIM_LOG");
    shim.calls_fd = shim_log_open_one("P11SHIM_CALLS");
}

/* Bumps a fault counter, shared with other processes when mapped. */
static void fault_count(uint64_t *counter)
{
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static int fault_session_lost(CK_RV rv)
{
    return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED;
}

static int fault_token_gone(CK_RV rv)
{
    return rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT;
}

/* A CKR_* name or a number; 0 if neither. */
static int fault_parse_rv(const char *text, CK_RV *rv)
{
    char *end;

    if (p11shim_ckr_value(text, rv))
        return 1;
    if (*text < '0' || *text > '9')
        return 0;
    errno = 0;
    *rv = strtoul(text, &end, 0);
    return errno == 0 && *end == '\0';
}

static int fault_parse_u64(const char *text, uint64_t *out)
{
    char *end;

    if (*text < '0' || *text > '9')
        return 0;
    errno = 0;
    *out = strtoull(text, &end, 0);
    return errno == 0 && *end == '\0';
}

/* FUNCS: names joined by '|', or '*'. */
static int fault_parse_funcs(struct shim_rule *rule, char *funcs)
{
    char *save = NULL;
    char *name;
    int fn;

    if (strcmp(funcs, "*") == 0) {
        size_t i;

        memset(rule->match, 1, sizeof(rule->match));
        for (i = 0; i < sizeof(shim_sessionless) / sizeof(shim_sessionless[0]);
             i++)
            rule->match[shim_sessionless[i]] = 0;
        return 1;
    }
    for (name = strtok_r(funcs, "|", &save); name != NULL;
         name = strtok_r(NULL, "|", &save)) {
        for (fn = 0; fn < P11SHIM_FN_COUNT; fn++)
            if (strcmp(name, p11shim_fn_names[fn]) == 0)
                break;
        if (fn == P11SHIM_FN_COUNT)
            return 0;
        rule->match[fn] = 1;
    }
    return 1;
}

/* Whether the key of "key=value" (key_len bytes) is `key`. */
static int fault_key_is(const char *item, size_t key_len, const char *key)
{
    return key_len == strlen(key) && strncmp(item, key, key_len) == 0;
}

/* A word item: a code, or one of the flags. */
static int fault_parse_word(struct shim_rule *rule, const char *item)
{
    if (strcmp(item, "remove") == 0)
        rule->remove = 1;
    else if (strcmp(item, "keep") == 0)
        rule->keep = 1;
    else if (strcmp(item, "after") == 0)
        rule->after = 1;
    else if (fault_parse_rv(item, &rule->rv))
        rule->has_rv = 1;
    else
        return 0;
    return 1;
}

/* One ITEM of a rule; 0 if it is not one. */
static int fault_parse_item(struct shim_rule *rule, const char *item)
{
    static const struct {
        const char *key; /* before '=' */
        size_t offset;   /* of the uint64_t field it sets */
        int zero_ok;     /* 0 is a meaningful value */
    } numbers[] = {
        {"nth", offsetof(struct shim_rule, nth), 0},
        {"times", offsetof(struct shim_rule, times), 0},
        {"from", offsetof(struct shim_rule, from), 0},
        {"every", offsetof(struct shim_rule, every), 0},
        {"max", offsetof(struct shim_rule, max), 1},
        {"seed", offsetof(struct shim_rule, rng), 1},
        {"absent", offsetof(struct shim_rule, absent), 1},
    };
    const char *eq = strchr(item, '=');
    size_t key_len, i;
    uint64_t n;
    char *end;

    if (eq == NULL)
        return fault_parse_word(rule, item);
    key_len = (size_t)(eq - item);
    if (fault_key_is(item, key_len, "gone"))
        return fault_parse_rv(eq + 1, &rule->gone_rv);
    if (fault_key_is(item, key_len, "rate")) {
        errno = 0;
        rule->rate = strtod(eq + 1, &end);
        return errno == 0 && *end == '\0' && end != eq + 1 && rule->rate >= 0.0
               && rule->rate <= 1.0;
    }
    if (!fault_parse_u64(eq + 1, &n))
        return 0;
    if (fault_key_is(item, key_len, "latency_us")) {
        rule->latency_us = (unsigned long)n;
        return n > 0;
    }
    for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        if (fault_key_is(item, key_len, numbers[i].key)) {
            memcpy((unsigned char *)rule + numbers[i].offset, &n, sizeof(n));
            return n > 0 || numbers[i].zero_ok;
        }
    }
    return 0;
}

/* Parses one RULE into shim.rules[index]; why says what is wrong. */
static int fault_parse_rule(int index, char *text, const char **why)
{
    struct shim_rule *rule = &shim.rules[index];
    const char *seed_env = getenv("P11SHIM_SEED");
    uint64_t seed = 1;
    char *save = NULL;
    char *item;

    memset(rule, 0, sizeof(*rule));
    rule->rate = -1.0;
    rule->gone_rv = CKR_DEVICE_REMOVED;
    if (seed_env != NULL && !fault_parse_u64(seed_env, &seed)) {
        *why = "P11SHIM_SEED is not a number";
        return 0;
    }
    rule->rng = seed;
    item = strtok_r(text, ":", &save);
    if (item == NULL || !fault_parse_funcs(rule, item)) {
        *why = "unknown function (C_Name, C_A|C_B or *)";
        return 0;
    }
    while ((item = strtok_r(NULL, ":", &save)) != NULL) {
        if (!fault_parse_item(rule, item)) {
            *why = item;
            return 0;
        }
    }
    *why = "a rule needs a CKR_*, remove or latency_us";
    if (!rule->has_rv && !rule->remove && rule->latency_us == 0)
        return 0;
    *why = "nth= and from= exclude each other; times= needs nth=";
    if ((rule->nth != 0 && rule->from != 0)
        || (rule->times != 0 && rule->nth == 0))
        return 0;
    if (rule->nth != 0 && rule->times == 0)
        rule->times = 1;
    /* Rules with the same seed still draw different sequences. */
    rule->rng = rule->rng * 0x9e3779b97f4a7c15ULL + (uint64_t)index;
    return 1;
}

/* Parses P11SHIM_FAULTS; on failure says why on stderr. */
static int fault_parse(const char *spec)
{
    char *copy = strdup(spec);
    char *save = NULL;
    const char *why = NULL;
    char *text;
    int ok = 1;

    if (copy == NULL)
        return 0;
    for (text = strtok_r(copy, ";", &save); text != NULL && ok;
         text = strtok_r(NULL, ";", &save)) {
        size_t len;

        /* Blanks around a rule are fine; inside one they are an error. */
        text += strspn(text, " \t\n");
        len = strlen(text);
        while (len > 0 && strchr(" \t\n", text[len - 1]) != NULL)
            text[--len] = '\0';
        if (len == 0)
            continue;
        if (shim.rule_count == P11SHIM_MAX_RULES) {
            why = "more than 16 rules";
            ok = 0;
        } else if (fault_parse_rule(shim.rule_count, text, &why)) {
            shim.rule_count++;
        } else {
            ok = 0;
        }
    }
    if (!ok) {
        char msg[256];

        snprintf(msg, sizeof(msg), "rule %d: %s", shim.rule_count + 1, why);
        shim_warn("bad P11SHIM_FAULTS", msg);
    }
    free(copy);
    return ok;
}

/* Whether the rule's conditions hold for its n-th matching call. */
static int fault_due(struct shim_rule *rule, uint64_t n)
{
    if (rule->nth != 0 && (n < rule->nth || n - rule->nth >= rule->times))
        return 0;
    if (rule->from != 0 && n < rule->from)
        return 0;
    if (rule->every != 0 && n % rule->every != 0)
        return 0;
    if (rule->rate >= 0.0) {
        /* splitmix64: one atomic step of the state per draw. */
        uint64_t z = __atomic_add_fetch(&rule->rng, 0x9e3779b97f4a7c15ULL,
                                        __ATOMIC_RELAXED);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        if ((double)(z >> 11) * 0x1.0p-53 >= rule->rate)
            return 0;
    }
    return 1;
}

/* Counts a firing, unless max= is reached. */
static int fault_take(struct shim_rule *rule)
{
    uint64_t fired = __atomic_load_n(rule->fired, __ATOMIC_RELAXED);

    do {
        if (rule->max != 0 && fired >= rule->max)
            return 0;
    } while (!__atomic_compare_exchange_n(rule->fired, &fired, fired + 1, 0,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return 1;
}

/*
 * Runs the rules that match fn: adds the delays of those that fire and
 * returns the first that fires with an error (or a removal), if any.
 */
static struct shim_rule *fault_pick(enum p11shim_fn fn,
                                    unsigned long *latency_us)
{
    struct shim_rule *chosen = NULL;
    int i;

    for (i = 0; i < shim.rule_count; i++) {
        struct shim_rule *rule = &shim.rules[i];
        int fails = rule->has_rv || rule->remove;
        uint64_t n;

        if (!rule->match[fn])
            continue;
        n = __atomic_add_fetch(rule->calls, 1, __ATOMIC_RELAXED);
        if ((fails && chosen != NULL) || !fault_due(rule, n)
            || !fault_take(rule))
            continue;
        *latency_us += rule->latency_us;
        if (fails)
            chosen = rule;
    }
    return chosen;
}

static void fault_sleep(unsigned long us)
{
    struct timespec left = {(time_t)(us / 1000000),
                            (long)(us % 1000000) * 1000};

    int rc;

    do
        rc = nanosleep(&left, &left);
    while (rc != 0 && errno == EINTR);
}

/*
 * Pulls the token out: closes every session of the slots this process
 * uses on the real module (which logs the token out too) and makes the
 * old handles stale.  `rule` is NULL for a `p11count --remove` request.
 */
static void fault_remove(const struct shim_rule *rule)
{
    CK_SLOT_ID slots[SHIM_MAX_SLOTS];
    int i, count;

    pthread_mutex_lock(&shim.slot_lock);
    count = shim.slot_count;
    memcpy(slots, shim.slots, sizeof(slots));
    pthread_mutex_unlock(&shim.slot_lock);

    pthread_rwlock_wrlock(&shim.token_lock);
    for (i = 0; i < count; i++)
        shim.real->C_CloseAllSessions(slots[i]);
    shim.gone_rv = rule != NULL ? rule->gone_rv : CKR_DEVICE_REMOVED;
    __atomic_store_n(&shim.absent_opens, rule != NULL ? rule->absent : 0,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&shim.absent, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&shim.epoch, 1, __ATOMIC_RELEASE);
    fault_count(&shim.stats->removals);
    pthread_rwlock_unlock(&shim.token_lock);
}

/* Carries out `p11count --remove` requests this process has not seen. */
static void fault_obey_requests(void)
{
    uint64_t want =
        __atomic_load_n(&shim.stats->remove_requests, __ATOMIC_ACQUIRE);
    uint64_t seen = __atomic_load_n(&shim.seen_requests, __ATOMIC_RELAXED);

    if (want != seen
        && __atomic_compare_exchange_n(&shim.seen_requests, &seen, want, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        fault_remove(NULL);
}

/*
 * What the token says before the call reaches it (token_lock held for
 * reading): C_OpenSession while removed, or a session that died.
 */
static CK_RV fault_token_state(enum p11shim_fn fn, CK_SESSION_HANDLE sess)
{
    uint32_t stamp;

    if (fn == P11SHIM_C_OpenSession) {
        uint64_t left;

        if (!__atomic_load_n(&shim.absent, __ATOMIC_ACQUIRE))
            return CKR_OK;
        left = __atomic_load_n(&shim.absent_opens, __ATOMIC_RELAXED);
        while (left > 0) {
            if (__atomic_compare_exchange_n(&shim.absent_opens, &left, left - 1,
                                            0, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED)) {
                fault_count(&shim.stats->absent);
                fault_count(&shim.stats->refused[fn]);
                return CKR_TOKEN_NOT_PRESENT;
            }
        }
        __atomic_store_n(&shim.absent, 0, __ATOMIC_RELEASE); /* re-inserted */
        return CKR_OK;
    }
    if (sess == CK_INVALID_HANDLE || sess >= SHIM_MAX_HANDLE)
        return CKR_OK;
    stamp = __atomic_load_n(&shim.stamps[sess], __ATOMIC_ACQUIRE);
    if (stamp == 0 || stamp == __atomic_load_n(&shim.epoch, __ATOMIC_ACQUIRE))
        return CKR_OK;
    fault_count(&shim.stats->stale);
    fault_count(&shim.stats->refused[fn]);
    if (__atomic_load_n(&shim.absent, __ATOMIC_ACQUIRE))
        return shim.gone_rv;
    return CKR_SESSION_HANDLE_INVALID;
}

/* Closes one session on the real module, as if the token lost it. */
static void fault_close_session(CK_SESSION_HANDLE sess)
{
    pthread_rwlock_rdlock(&shim.token_lock);
    shim.real->C_CloseSession(sess);
    if (sess < SHIM_MAX_HANDLE)
        __atomic_store_n(&shim.stamps[sess], SHIM_STAMP_DEAD, __ATOMIC_RELEASE);
    pthread_rwlock_unlock(&shim.token_lock);
}

/* Returns the rule's error, first making the token agree with it. */
static CK_RV fault_inject(const struct shim_rule *rule, enum p11shim_fn fn,
                          CK_SESSION_HANDLE sess)
{
    CK_RV rv = rule->has_rv ? rule->rv : rule->gone_rv;

    if (rule->remove || (!rule->keep && fault_token_gone(rv))) {
        fault_remove(rule);
    } else if (!rule->keep && sess != CK_INVALID_HANDLE) {
        if (fault_session_lost(rv)) {
            fault_close_session(sess);
        } else if (rv == CKR_USER_NOT_LOGGED_IN) {
            pthread_rwlock_rdlock(&shim.token_lock);
            shim.real->C_Logout(sess);
            pthread_rwlock_unlock(&shim.token_lock);
        }
    }
    fault_count(&shim.stats->injected[fn]);
    fault_count(&shim.stats->injected_total);
    fault_count(
        &shim.stats->by_thread[(unsigned)gettid() % P11SHIM_THREAD_SLOTS]);
    return rv;
}

/* The fault half of shim_enter(). */
static CK_RV fault_enter(struct shim_call *call)
{
    struct shim_rule *rule;
    unsigned long latency_us = 0;
    CK_RV rv;

    fault_obey_requests();
    pthread_rwlock_rdlock(&shim.token_lock);
    rv = fault_token_state(call->fn, call->sess);
    if (rv != CKR_OK) {
        pthread_rwlock_unlock(&shim.token_lock);
        return rv;
    }
    rule = fault_pick(call->fn, &latency_us);
    if (latency_us > 0) {
        fault_count(&shim.stats->delayed);
        fault_sleep(latency_us);
    }
    if (rule != NULL && !rule->after) {
        pthread_rwlock_unlock(&shim.token_lock);
        return fault_inject(rule, call->fn, call->sess);
    }
    call->locked = 1;
    call->after = rule;
    return CKR_OK;
}

/*
 * A removal must not starve behind busy threads, so writers go first.
 * No thread ever takes token_lock for reading twice, which that needs.
 */
static void fault_init_locks(void)
{
    pthread_rwlockattr_t attr;

    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&shim.token_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&shim.slot_lock, NULL);
}

/* Reads P11SHIM_FAULTS (already known to be set); 0 if malformed. */
static int fault_setup(const char *spec)
{
    int i;

    shim.stats =
        shim.counts.faults != NULL ? shim.counts.faults : &shim.local_stats;
    if (!fault_parse(spec))
        return 0;
    for (i = 0; i < shim.rule_count; i++) {
        struct shim_rule *rule = &shim.rules[i];

        rule->calls = shim.counts.faults != NULL
                          ? &shim.counts.faults->rule_calls[i]
                          : &rule->local_calls;
        rule->fired = shim.counts.faults != NULL
                          ? &shim.counts.faults->rule_fired[i]
                          : &rule->local_fired;
    }
    shim.seen_requests =
        __atomic_load_n(&shim.stats->remove_requests, __ATOMIC_ACQUIRE);
    fault_init_locks();
    /* A forked child must not inherit a lock held by a thread it lacks. */
    pthread_atfork(NULL, NULL, fault_init_locks);
    shim.faults_on = 1;
    return 1;
}

/* Reads P11SHIM_LATENCY_US (NULL or empty: none); 0 if malformed. */
static int shim_latency_setup(const char *text)
{
    char *end;

    if (text == NULL || *text == '\0')
        return 1;
    errno = 0;
    shim.latency_us = strtoul(text, &end, 10);
    if (*text >= '0' && *text <= '9' && *end == '\0' && errno == 0
        && shim.latency_us <= 10 * 1000 * 1000)
        return 1;
    shim_warn("P11SHIM_LATENCY_US must be 0 to 10000000 microseconds", text);
    return 0;
}

/* The round trip of P11SHIM_LATENCY_US, slept before forwarding a call. */
static void shim_latency_wait(void)
{
    static __thread int slack_set;

    if (!slack_set) {
        prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0); /* nanoseconds */
        slack_set = 1;
    }
    fault_sleep(shim.latency_us);
}

static CK_RV shim_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

/* Parses P11SHIM_HIDE_MECHS (see the top); 0 with a warning if malformed. */
static int hide_setup(const char *spec)
{
    const char *p = spec;
    char *end;

    while (*p != '\0') {
        unsigned long mech = strtoul(p, &end, 0);

        if (end == p || (*end != ',' && *end != '\0')
            || shim.hidden_count == SHIM_MAX_HIDDEN) {
            shim_warn("malformed P11SHIM_HIDE_MECHS", spec);
            return 0;
        }
        shim.hidden[shim.hidden_count++] = mech;
        p = *end == ',' ? end + 1 : end;
    }
    return 1;
}

static int shim_hidden(CK_MECHANISM_TYPE mech)
{
    int i;

    for (i = 0; i < shim.hidden_count; i++)
        if (shim.hidden[i] == mech)
            return 1;
    return 0;
}

/*
 * Whether fn lives in this very object.  Comparing with the address of
 * C_GetFunctionList would not do: that name is interposable, so with the
 * real module already loaded RTLD_GLOBAL it resolves to the real one.
 */
static int shim_is_self(CK_C_GetFunctionList fn)
{
    Dl_info self;
    Dl_info other;

    return dladdr((void *)shim_C_GetFunctionList, &self) != 0
           && dladdr((void *)fn, &other) != 0
           && self.dli_fbase == other.dli_fbase;
}

/*
 * Runs once per process (pthread_once).  The module is never dlclosed:
 * callers may hold pointers into it until exit.  If the real module is
 * already loaded by the application, dlopen() hands back the same copy,
 * and both users share its state (C_Initialize then reports
 * CKR_CRYPTOKI_ALREADY_INITIALIZED to the second one, as it would
 * without the shim).
 */
static void shim_load(void)
{
    const char *path = getenv("P11SHIM_MODULE");
    const char *counts_path = getenv("P11SHIM_COUNTS");
    const char *faults = getenv("P11SHIM_FAULTS");
    const char *hide = getenv("P11SHIM_HIDE_MECHS");
    int count_flags = P11SHIM_COUNTS_WRITE | P11SHIM_COUNTS_CREATE;
    CK_C_GetFunctionList get_list;
    CK_FUNCTION_LIST_PTR real = NULL;
    char why[512];
    void *handle;

    if (path == NULL || *path == '\0') {
        shim_warn("P11SHIM_MODULE is not set", NULL);
        return;
    }
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        shim_warn("cannot load P11SHIM_MODULE", dlerror());
        return;
    }
    get_list = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
    /* Pointing the shim at itself would recurse forever. */
    if (get_list == NULL || shim_is_self(get_list)) {
        shim_warn("P11SHIM_MODULE has no usable C_GetFunctionList", path);
        goto out_close;
    }
    if (get_list(&real) != CKR_OK || real == NULL) {
        shim_warn("C_GetFunctionList of P11SHIM_MODULE failed", path);
        goto out_close;
    }
    if ((hide != NULL && !hide_setup(hide))
        || !shim_latency_setup(getenv("P11SHIM_LATENCY_US")))
        goto out_close;
    if (faults != NULL)
        count_flags |= P11SHIM_COUNTS_FAULTS;
    if (counts_path != NULL && *counts_path != '\0'
        && !p11shim_counts_open(&shim.counts, counts_path, count_flags, why,
                                sizeof(why))) {
        shim_warn("cannot use P11SHIM_COUNTS", why);
        goto out_close;
    }
    shim.real = real;
    if (faults != NULL && !fault_setup(faults)) {
        p11shim_counts_close(&shim.counts);
        goto out_close;
    }
    shim_log_open();
    shim.load_rv = CKR_OK;
    return;
out_close:
    shim.real = NULL;
    dlclose(handle);
}

/*
 * Every wrapper calls this first; CKR_OK means "forward to the real
 * module, then call shim_leave()", anything else is returned to the
 * caller instead.  Counting is relaxed: the counts are only read after
 * the calls being measured have finished.
 */
static CK_RV shim_enter(struct shim_call *call, enum p11shim_fn fn,
                        CK_SESSION_HANDLE sess)
{
    void (*real_fn)(void);

    call->fn = fn;
    call->sess = sess;
    call->locked = 0;
    call->after = NULL;
    if (shim.counts.counter != NULL)
        __atomic_fetch_add(&shim.counts.counter[fn], 1, __ATOMIC_RELAXED);
    /*
     * A module that leaves an entry NULL gets the answer the standard
     * gives for a missing function rather than a crash in the wrapper.
     */
    memcpy(&real_fn, (const unsigned char *)shim.real + shim_offsets[fn],
           sizeof(real_fn));
    if (real_fn == NULL)
        return CKR_FUNCTION_NOT_SUPPORTED;
    if (shim.latency_us > 0 && fn != P11SHIM_C_GetFunctionList)
        shim_latency_wait();
    if (!shim.faults_on)
        return CKR_OK;
    return fault_enter(call);
}

/*
 * Ends a forwarded call that returned rv.  out and out_len (NULL when the
 * function has no output) are what an `after` rule overwrites.
 */
static CK_RV shim_leave(struct shim_call *call, CK_RV rv, CK_BYTE_PTR out,
                        CK_ULONG_PTR out_len)
{
    if ((rv != CKR_OK && shim.log_fd >= 0) || shim.calls_fd >= 0) {
        char num[32];
        const char *ckr = shim_log_ckr(rv, num, sizeof(num));

        if (rv != CKR_OK)
            shim_log("rv %s %s", p11shim_fn_names[call->fn], ckr);
        shim_log_call("%s %s", p11shim_fn_names[call->fn], ckr);
    }
    if (call->locked)
        pthread_rwlock_unlock(&shim.token_lock);
    if (call->after == NULL)
        return rv;
    if (rv == CKR_OK && out != NULL && out_len != NULL)
        memset(out, 0xa5, *out_len);
    return fault_inject(call->after, call->fn, call->sess);
}

/*
 * After a successful C_OpenSession, before its shim_leave(): the session
 * belongs to this epoch (token_lock is held, so no removal slips in).
 */
static void shim_opened(CK_SLOT_ID slot, CK_SESSION_HANDLE sess)
{
    int i;

    if (!shim.faults_on)
        return;
    if (sess < SHIM_MAX_HANDLE)
        __atomic_store_n(&shim.stamps[sess],
                         __atomic_load_n(&shim.epoch, __ATOMIC_ACQUIRE),
                         __ATOMIC_RELEASE);
    pthread_mutex_lock(&shim.slot_lock);
    i = 0;
    while (i < shim.slot_count && shim.slots[i] != slot)
        i++;
    if (i == shim.slot_count && i < SHIM_MAX_SLOTS)
        shim.slots[shim.slot_count++] = slot;
    pthread_mutex_unlock(&shim.slot_lock);
}

static CK_RV shim_C_Initialize(CK_VOID_PTR init_args)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_Initialize, CK_INVALID_HANDLE);

    if (rv != CKR_OK)
        return rv;
    if (getenv("P11SHIM_FORK_IN_INITIALIZE") != NULL) {
        pid_t pid = fork();

        if (pid == 0)
            _exit(0);
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
    rv = shim.real->C_Initialize(init_args);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_Finalize(CK_VOID_PTR reserved)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_Finalize, CK_INVALID_HANDLE);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_Finalize(reserved);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_GetInfo(CK_INFO_PTR info)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_GetInfo, CK_INVALID_HANDLE);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_GetInfo(info);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_GetSlotList(CK_BBOOL token_present,
                                CK_SLOT_ID_PTR slot_list, CK_ULONG_PTR count)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_GetSlotList, CK_INVALID_HANDLE);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_GetSlotList(token_present, slot_list, count);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_GetSlotInfo(CK_SLOT_ID slot_id, CK_SLOT_INFO_PTR info)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_GetSlotInfo, CK_INVALID_HANDLE);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_GetSlotInfo(slot_id, info);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_GetTokenInfo(CK_SLOT_ID slot_id, CK_TOKEN_INFO_PTR info)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_GetTokenInfo, CK_INVALID_HANDLE);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_GetTokenInfo(slot_id, info);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_GetMechanismList(CK_SLOT_ID slot_id,
                                     CK_MECHANISM_TYPE_PTR mech_list,
                                     CK_ULONG_PTR count)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_GetMechanismList, CK_INVALID_HANDLE);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_GetMechanismList(slot_id, mech_list, count);
    if (rv == CKR_OK && shim.hidden_count > 0) {
        CK_ULONG kept = 0, i;

        /* A size query counts them too: a few spare entries are harmless. */
        for (i = 0; mech_list != NULL && i < *count; i++)
            if (!shim_hidden(mech_list[i]))
                mech_list[kept++] = mech_list[i];
        if (mech_list != NULL)
            *count = kept;
    }
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_GetMechanismInfo(CK_SLOT_ID slot_id, CK_MECHANISM_TYPE type,
                                     CK_MECHANISM_INFO_PTR info)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_GetMechanismInfo, CK_INVALID_HANDLE);

    if (rv != CKR_OK)
        return rv;
    rv = shim_hidden(type) ? CKR_MECHANISM_INVALID
                           : shim.real->C_GetMechanismInfo(slot_id, type, info);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_InitToken(CK_SLOT_ID slot_id, CK_UTF8CHAR_PTR pin,
                              CK_ULONG pin_len, CK_UTF8CHAR_PTR label)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_InitToken, CK_INVALID_HANDLE);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_InitToken(slot_id, pin, pin_len, label);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_InitPIN(CK_SESSION_HANDLE sess, CK_UTF8CHAR_PTR pin,
                            CK_ULONG pin_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_InitPIN, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_InitPIN(sess, pin, pin_len);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_SetPIN(CK_SESSION_HANDLE sess, CK_UTF8CHAR_PTR old_pin,
                           CK_ULONG old_len, CK_UTF8CHAR_PTR new_pin,
                           CK_ULONG new_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_SetPIN, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_SetPIN(sess, old_pin, old_len, new_pin, new_len);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_OpenSession(CK_SLOT_ID slot_id, CK_FLAGS flags,
                                CK_VOID_PTR app, CK_NOTIFY notify,
                                CK_SESSION_HANDLE_PTR sess)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_OpenSession, CK_INVALID_HANDLE);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_OpenSession(slot_id, flags, app, notify, sess);
    if (rv == CKR_OK)
        shim_opened(slot_id, *sess);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_CloseSession(CK_SESSION_HANDLE sess)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_CloseSession, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_CloseSession(sess);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_CloseAllSessions(CK_SLOT_ID slot_id)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_CloseAllSessions, CK_INVALID_HANDLE);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_CloseAllSessions(slot_id);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_GetSessionInfo(CK_SESSION_HANDLE sess,
                                   CK_SESSION_INFO_PTR info)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_GetSessionInfo, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_GetSessionInfo(sess, info);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_GetOperationState(CK_SESSION_HANDLE sess, CK_BYTE_PTR state,
                                      CK_ULONG_PTR state_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_GetOperationState, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_GetOperationState(sess, state, state_len);
    return shim_leave(&call, rv, state, state_len);
}

static CK_RV shim_C_SetOperationState(CK_SESSION_HANDLE sess, CK_BYTE_PTR state,
                                      CK_ULONG state_len,
                                      CK_OBJECT_HANDLE enc_key,
                                      CK_OBJECT_HANDLE auth_key)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_SetOperationState, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_SetOperationState(sess, state, state_len, enc_key,
                                        auth_key);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_Login(CK_SESSION_HANDLE sess, CK_USER_TYPE user,
                          CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_Login, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_Login(sess, user, pin, pin_len);
    if (shim.log_fd >= 0) {
        char num[32];

        /* The PIN's length only: never its bytes. */
        shim_log("login user=%lu pin_len=%lu rv=%s", (unsigned long)user,
                 (unsigned long)pin_len, shim_log_ckr(rv, num, sizeof(num)));
    }
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_Logout(CK_SESSION_HANDLE sess)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_Logout, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_Logout(sess);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_CreateObject(CK_SESSION_HANDLE sess, CK_ATTRIBUTE_PTR tmpl,
                                 CK_ULONG count, CK_OBJECT_HANDLE_PTR obj)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_CreateObject, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_CreateObject(sess, tmpl, count, obj);
    if (rv == CKR_OK)
        shim_log_object("C_CreateObject", sess, *obj, tmpl, count);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_CopyObject(CK_SESSION_HANDLE sess, CK_OBJECT_HANDLE obj,
                               CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                               CK_OBJECT_HANDLE_PTR new_obj)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_CopyObject, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_CopyObject(sess, obj, tmpl, count, new_obj);
    if (rv == CKR_OK)
        shim_log_object("C_CopyObject", sess, *new_obj, tmpl, count);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_DestroyObject(CK_SESSION_HANDLE sess, CK_OBJECT_HANDLE obj)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_DestroyObject, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_DestroyObject(sess, obj);
    if (shim.log_fd >= 0) {
        char num[32];

        shim_log("destroy h=%lu rv=%s", (unsigned long)obj,
                 shim_log_ckr(rv, num, sizeof(num)));
    }
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_GetObjectSize(CK_SESSION_HANDLE sess, CK_OBJECT_HANDLE obj,
                                  CK_ULONG_PTR size)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_GetObjectSize, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_GetObjectSize(sess, obj, size);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_GetAttributeValue(CK_SESSION_HANDLE sess,
                                      CK_OBJECT_HANDLE obj,
                                      CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_GetAttributeValue, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_GetAttributeValue(sess, obj, tmpl, count);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_SetAttributeValue(CK_SESSION_HANDLE sess,
                                      CK_OBJECT_HANDLE obj,
                                      CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_SetAttributeValue, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_SetAttributeValue(sess, obj, tmpl, count);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_FindObjectsInit(CK_SESSION_HANDLE sess,
                                    CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_FindObjectsInit, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_FindObjectsInit(sess, tmpl, count);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_FindObjects(CK_SESSION_HANDLE sess,
                                CK_OBJECT_HANDLE_PTR objs, CK_ULONG max_count,
                                CK_ULONG_PTR count)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_FindObjects, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_FindObjects(sess, objs, max_count, count);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_FindObjectsFinal(CK_SESSION_HANDLE sess)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_FindObjectsFinal, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_FindObjectsFinal(sess);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_EncryptInit(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                                CK_OBJECT_HANDLE key)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_EncryptInit, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_EncryptInit(sess, mech, key);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_Encrypt(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                            CK_ULONG in_len, CK_BYTE_PTR out,
                            CK_ULONG_PTR out_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_Encrypt, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_Encrypt(sess, in, in_len, out, out_len);
    return shim_leave(&call, rv, out, out_len);
}

static CK_RV shim_C_EncryptUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                  CK_ULONG in_len, CK_BYTE_PTR out,
                                  CK_ULONG_PTR out_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_EncryptUpdate, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_EncryptUpdate(sess, in, in_len, out, out_len);
    return shim_leave(&call, rv, out, out_len);
}

static CK_RV shim_C_EncryptFinal(CK_SESSION_HANDLE sess, CK_BYTE_PTR out,
                                 CK_ULONG_PTR out_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_EncryptFinal, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_EncryptFinal(sess, out, out_len);
    return shim_leave(&call, rv, out, out_len);
}

static CK_RV shim_C_DecryptInit(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                                CK_OBJECT_HANDLE key)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_DecryptInit, sess);

    if (rv != CKR_OK)
        return rv;
    rv = mech != NULL && shim_hidden(mech->mechanism)
             ? CKR_MECHANISM_INVALID
             : shim.real->C_DecryptInit(sess, mech, key);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_Decrypt(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                            CK_ULONG in_len, CK_BYTE_PTR out,
                            CK_ULONG_PTR out_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_Decrypt, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_Decrypt(sess, in, in_len, out, out_len);
    return shim_leave(&call, rv, out, out_len);
}

static CK_RV shim_C_DecryptUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                  CK_ULONG in_len, CK_BYTE_PTR out,
                                  CK_ULONG_PTR out_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_DecryptUpdate, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_DecryptUpdate(sess, in, in_len, out, out_len);
    return shim_leave(&call, rv, out, out_len);
}

static CK_RV shim_C_DecryptFinal(CK_SESSION_HANDLE sess, CK_BYTE_PTR out,
                                 CK_ULONG_PTR out_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_DecryptFinal, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_DecryptFinal(sess, out, out_len);
    return shim_leave(&call, rv, out, out_len);
}

static CK_RV shim_C_DigestInit(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_DigestInit, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_DigestInit(sess, mech);
    shim_log_mech(P11SHIM_C_DigestInit, mech, rv);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_Digest(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                           CK_ULONG in_len, CK_BYTE_PTR out,
                           CK_ULONG_PTR out_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_Digest, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_Digest(sess, in, in_len, out, out_len);
    return shim_leave(&call, rv, out, out_len);
}

static CK_RV shim_C_DigestUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                 CK_ULONG in_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_DigestUpdate, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_DigestUpdate(sess, in, in_len);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_DigestKey(CK_SESSION_HANDLE sess, CK_OBJECT_HANDLE key)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_DigestKey, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_DigestKey(sess, key);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_DigestFinal(CK_SESSION_HANDLE sess, CK_BYTE_PTR out,
                                CK_ULONG_PTR out_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_DigestFinal, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_DigestFinal(sess, out, out_len);
    return shim_leave(&call, rv, out, out_len);
}

static CK_RV shim_C_SignInit(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                             CK_OBJECT_HANDLE key)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_SignInit, sess);

    if (rv != CKR_OK)
        return rv;
    rv = mech != NULL && shim_hidden(mech->mechanism)
             ? CKR_MECHANISM_INVALID
             : shim.real->C_SignInit(sess, mech, key);
    shim_log_mech(P11SHIM_C_SignInit, mech, rv);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_Sign(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                         CK_ULONG in_len, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_Sign, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_Sign(sess, in, in_len, sig, sig_len);
    return shim_leave(&call, rv, sig, sig_len);
}

static CK_RV shim_C_SignUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                               CK_ULONG in_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_SignUpdate, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_SignUpdate(sess, in, in_len);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_SignFinal(CK_SESSION_HANDLE sess, CK_BYTE_PTR sig,
                              CK_ULONG_PTR sig_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_SignFinal, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_SignFinal(sess, sig, sig_len);
    return shim_leave(&call, rv, sig, sig_len);
}

static CK_RV shim_C_SignRecoverInit(CK_SESSION_HANDLE sess,
                                    CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_SignRecoverInit, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_SignRecoverInit(sess, mech, key);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_SignRecover(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                CK_ULONG in_len, CK_BYTE_PTR sig,
                                CK_ULONG_PTR sig_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_SignRecover, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_SignRecover(sess, in, in_len, sig, sig_len);
    return shim_leave(&call, rv, sig, sig_len);
}

static CK_RV shim_C_VerifyInit(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                               CK_OBJECT_HANDLE key)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_VerifyInit, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_VerifyInit(sess, mech, key);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_Verify(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                           CK_ULONG in_len, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_Verify, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_Verify(sess, in, in_len, sig, sig_len);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_VerifyUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                 CK_ULONG in_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_VerifyUpdate, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_VerifyUpdate(sess, in, in_len);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_VerifyFinal(CK_SESSION_HANDLE sess, CK_BYTE_PTR sig,
                                CK_ULONG sig_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_VerifyFinal, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_VerifyFinal(sess, sig, sig_len);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_VerifyRecoverInit(CK_SESSION_HANDLE sess,
                                      CK_MECHANISM_PTR mech,
                                      CK_OBJECT_HANDLE key)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_VerifyRecoverInit, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_VerifyRecoverInit(sess, mech, key);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_VerifyRecover(CK_SESSION_HANDLE sess, CK_BYTE_PTR sig,
                                  CK_ULONG sig_len, CK_BYTE_PTR out,
                                  CK_ULONG_PTR out_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_VerifyRecover, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_VerifyRecover(sess, sig, sig_len, out, out_len);
    return shim_leave(&call, rv, out, out_len);
}

static CK_RV shim_C_DigestEncryptUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                        CK_ULONG in_len, CK_BYTE_PTR out,
                                        CK_ULONG_PTR out_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_DigestEncryptUpdate, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_DigestEncryptUpdate(sess, in, in_len, out, out_len);
    return shim_leave(&call, rv, out, out_len);
}

static CK_RV shim_C_DecryptDigestUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                        CK_ULONG in_len, CK_BYTE_PTR out,
                                        CK_ULONG_PTR out_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_DecryptDigestUpdate, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_DecryptDigestUpdate(sess, in, in_len, out, out_len);
    return shim_leave(&call, rv, out, out_len);
}

static CK_RV shim_C_SignEncryptUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                      CK_ULONG in_len, CK_BYTE_PTR out,
                                      CK_ULONG_PTR out_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_SignEncryptUpdate, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_SignEncryptUpdate(sess, in, in_len, out, out_len);
    return shim_leave(&call, rv, out, out_len);
}

static CK_RV shim_C_DecryptVerifyUpdate(CK_SESSION_HANDLE sess, CK_BYTE_PTR in,
                                        CK_ULONG in_len, CK_BYTE_PTR out,
                                        CK_ULONG_PTR out_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_DecryptVerifyUpdate, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_DecryptVerifyUpdate(sess, in, in_len, out, out_len);
    return shim_leave(&call, rv, out, out_len);
}

static CK_RV shim_C_GenerateKey(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                                CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                                CK_OBJECT_HANDLE_PTR key)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_GenerateKey, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_GenerateKey(sess, mech, tmpl, count, key);
    if (rv == CKR_OK)
        shim_log_object("C_GenerateKey", sess, *key, tmpl, count);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_GenerateKeyPair(
    CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR pub_tmpl,
    CK_ULONG pub_count, CK_ATTRIBUTE_PTR priv_tmpl, CK_ULONG priv_count,
    CK_OBJECT_HANDLE_PTR pub_key, CK_OBJECT_HANDLE_PTR priv_key)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_GenerateKeyPair, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_GenerateKeyPair(sess, mech, pub_tmpl, pub_count,
                                      priv_tmpl, priv_count, pub_key, priv_key);
    if (rv == CKR_OK) {
        shim_log_object("C_GenerateKeyPair.pub", sess, *pub_key, pub_tmpl,
                        pub_count);
        shim_log_object("C_GenerateKeyPair.priv", sess, *priv_key, priv_tmpl,
                        priv_count);
    }
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_WrapKey(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                            CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key,
                            CK_BYTE_PTR wrapped, CK_ULONG_PTR wrapped_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_WrapKey, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_WrapKey(sess, mech, wrapping_key, key, wrapped,
                              wrapped_len);
    return shim_leave(&call, rv, wrapped, wrapped_len);
}

static CK_RV shim_C_UnwrapKey(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                              CK_OBJECT_HANDLE unwrapping_key,
                              CK_BYTE_PTR wrapped, CK_ULONG wrapped_len,
                              CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                              CK_OBJECT_HANDLE_PTR key)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_UnwrapKey, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_UnwrapKey(sess, mech, unwrapping_key, wrapped,
                                wrapped_len, tmpl, count, key);
    if (rv == CKR_OK)
        shim_log_object("C_UnwrapKey", sess, *key, tmpl, count);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_DeriveKey(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech,
                              CK_OBJECT_HANDLE base_key, CK_ATTRIBUTE_PTR tmpl,
                              CK_ULONG count, CK_OBJECT_HANDLE_PTR key)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_DeriveKey, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_DeriveKey(sess, mech, base_key, tmpl, count, key);
    if (rv == CKR_OK && key != NULL)
        shim_log_object("C_DeriveKey", sess, *key, tmpl, count);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_SeedRandom(CK_SESSION_HANDLE sess, CK_BYTE_PTR seed,
                               CK_ULONG seed_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_SeedRandom, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_SeedRandom(sess, seed, seed_len);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_GenerateRandom(CK_SESSION_HANDLE sess, CK_BYTE_PTR out,
                                   CK_ULONG out_len)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_GenerateRandom, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_GenerateRandom(sess, out, out_len);
    return shim_leave(&call, rv, out, &out_len);
}

static CK_RV shim_C_GetFunctionStatus(CK_SESSION_HANDLE sess)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_GetFunctionStatus, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_GetFunctionStatus(sess);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_CancelFunction(CK_SESSION_HANDLE sess)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_CancelFunction, sess);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_CancelFunction(sess);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_RV shim_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot_id,
                                     CK_VOID_PTR reserved)
{
    struct shim_call call;
    CK_RV rv = shim_enter(&call, P11SHIM_C_WaitForSlotEvent, CK_INVALID_HANDLE);

    if (rv != CKR_OK)
        return rv;
    rv = shim.real->C_WaitForSlotEvent(flags, slot_id, reserved);
    return shim_leave(&call, rv, NULL, NULL);
}

static CK_FUNCTION_LIST shim_list = {
    .version = {2, 40},
    .C_Initialize = shim_C_Initialize,
    .C_Finalize = shim_C_Finalize,
    .C_GetInfo = shim_C_GetInfo,
    .C_GetFunctionList = shim_C_GetFunctionList,
    .C_GetSlotList = shim_C_GetSlotList,
    .C_GetSlotInfo = shim_C_GetSlotInfo,
    .C_GetTokenInfo = shim_C_GetTokenInfo,
    .C_GetMechanismList = shim_C_GetMechanismList,
    .C_GetMechanismInfo = shim_C_GetMechanismInfo,
    .C_InitToken = shim_C_InitToken,
    .C_InitPIN = shim_C_InitPIN,
    .C_SetPIN = shim_C_SetPIN,
    .C_OpenSession = shim_C_OpenSession,
    .C_CloseSession = shim_C_CloseSession,
    .C_CloseAllSessions = shim_C_CloseAllSessions,
    .C_GetSessionInfo = shim_C_GetSessionInfo,
    .C_GetOperationState = shim_C_GetOperationState,
    .C_SetOperationState = shim_C_SetOperationState,
    .C_Login = shim_C_Login,
    .C_Logout = shim_C_Logout,
    .C_CreateObject = shim_C_CreateObject,
    .C_CopyObject = shim_C_CopyObject,
    .C_DestroyObject = shim_C_DestroyObject,
    .C_GetObjectSize = shim_C_GetObjectSize,
    .C_GetAttributeValue = shim_C_GetAttributeValue,
    .C_SetAttributeValue = shim_C_SetAttributeValue,
    .C_FindObjectsInit = shim_C_FindObjectsInit,
    .C_FindObjects = shim_C_FindObjects,
    .C_FindObjectsFinal = shim_C_FindObjectsFinal,
    .C_EncryptInit = shim_C_EncryptInit,
    .C_Encrypt = shim_C_Encrypt,
    .C_EncryptUpdate = shim_C_EncryptUpdate,
    .C_EncryptFinal = shim_C_EncryptFinal,
    .C_DecryptInit = shim_C_DecryptInit,
    .C_Decrypt = shim_C_Decrypt,
    .C_DecryptUpdate = shim_C_DecryptUpdate,
    .C_DecryptFinal = shim_C_DecryptFinal,
    .C_DigestInit = shim_C_DigestInit,
    .C_Digest = shim_C_Digest,
    .C_DigestUpdate = shim_C_DigestUpdate,
    .C_DigestKey = shim_C_DigestKey,
    .C_DigestFinal = shim_C_DigestFinal,
    .C_SignInit = shim_C_SignInit,
    .C_Sign = shim_C_Sign,
    .C_SignUpdate = shim_C_SignUpdate,
    .C_SignFinal = shim_C_SignFinal,
    .C_SignRecoverInit = shim_C_SignRecoverInit,
    .C_SignRecover = shim_C_SignRecover,
    .C_VerifyInit = shim_C_VerifyInit,
    .C_Verify = shim_C_Verify,
    .C_VerifyUpdate = shim_C_VerifyUpdate,
    .C_VerifyFinal = shim_C_VerifyFinal,
    .C_VerifyRecoverInit = shim_C_VerifyRecoverInit,
    .C_VerifyRecover = shim_C_VerifyRecover,
    .C_DigestEncryptUpdate = shim_C_DigestEncryptUpdate,
    .C_DecryptDigestUpdate = shim_C_DecryptDigestUpdate,
    .C_SignEncryptUpdate = shim_C_SignEncryptUpdate,
    .C_DecryptVerifyUpdate = shim_C_DecryptVerifyUpdate,
    .C_GenerateKey = shim_C_GenerateKey,
    .C_GenerateKeyPair = shim_C_GenerateKeyPair,
    .C_WrapKey = shim_C_WrapKey,
    .C_UnwrapKey = shim_C_UnwrapKey,
    .C_DeriveKey = shim_C_DeriveKey,
    .C_SeedRandom = shim_C_SeedRandom,
    .C_GenerateRandom = shim_C_GenerateRandom,
    .C_GetFunctionStatus = shim_C_GetFunctionStatus,
    .C_CancelFunction = shim_C_CancelFunction,
    .C_WaitForSlotEvent = shim_C_WaitForSlotEvent,
};

/*
 * Unlike the other entries this one does not forward: the caller must get
 * the shim's list, not the real one.  The list points here rather than at
 * C_GetFunctionList for the same interposition reason as shim_is_self().
 */
static CK_RV shim_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    struct shim_call call;
    CK_RV rv;

    pthread_once(&shim.once, shim_load);
    if (shim.load_rv != CKR_OK)
        return shim.load_rv;
    rv = shim_enter(&call, P11SHIM_C_GetFunctionList, CK_INVALID_HANDLE);
    if (rv != CKR_OK)
        return rv;
    if (list == NULL)
        rv = CKR_ARGUMENTS_BAD;
    else
        *list = &shim_list;
    return shim_leave(&call, rv, NULL, NULL);
}

/* The one exported symbol (p11shim.map). */
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    return shim_C_GetFunctionList(list);
}
