# SPDX-License-Identifier: Apache-2.0
# Digest behaviours that need a C program (tests/c/digest_check.c):
# EVP_MD_CTX_copy_ex mid-stream, threads (and a thread's first use after
# another's), a pool smaller than the thread count, fork, contexts freed
# mid-stream, unload and reload.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use P11BE;

# SHA-256 on the token is what every check here runs.
need_mechs(qw(CKM_SHA256));

use_shim();
my $check = test_program('digest_check');

sub check {
    my ($name, $args, $env) = @_;
    my ($rc, $out, $err) = run($check, @$args,
        { env => { P11BE_BUILD_DIR => build_dir(), %{ $env // {} } },
          timeout => 120 });
    is($rc, 0, $name) or diag "$out$err";
    return $out;
}

SKIP: {
    my $why = lacks_mechs(qw(CKM_SHA_1 CKM_SHA224 CKM_SHA256 CKM_SHA384
                             CKM_SHA512));
    skip $why, 2 if $why;
    reset_counts();
    check('EVP_MD_CTX_copy_ex mid-stream, every SHA, 0 to 70000 bytes held',
          ['copy']);
    is(count_of('C_GetOperationState'), 0,
       'held input is copied on the host: no operation state needed');
}

# Past the bound SoftHSM2 cannot copy a running digest: copies share it,
# the first to take more input keeps it, copies that only finish agree.
# opencryptoki's soft token copies a running digest
# (C_GetOperationState), so there every copy is a real one.
SKIP: {
    skip 'the ' . token_kind() . ' token copies a running digest', 4
        if token_kind() eq 'opencryptoki';
    reset_counts();
    my $out = check('beyond pkcs11-digest-buffer-max: copies share the digest',
                    ['copy-large']);
    is(() = $out =~ /^ok: .* refused: .*copied past pkcs11-digest-buffer-max \(1048576 bytes\) on a token that cannot copy a running digest/mg,
       5, 'each refusal names the bound and why');
    cmp_ok(count_of('C_GetOperationState'), '>', 0,
           'the token was asked to copy first');

    check('the same with a 4 KiB bound', ['copy-large'],
          { P11BE_DIGEST_BUFFER_MAX => 4096 });
}

check('8 threads at once', ['threads', 8]);
# Fails only under ThreadSanitizer (the P11BE_TSAN build) when the first
# use does not publish the token's settings to the other threads.
check('a second thread\'s first digest after the first opened the token',
      ['first-use']);
reset_counts();
check('16 threads through a pool of 2 sessions wait, never fail',
      ['threads', 16], { P11BE_SESSION_POOL_MAX => 2 });
cmp_ok(count_of('C_OpenSession'), '<=', 2, 'the pool bound held');

check('fork: parent, child, idle child, parent again', ['fork']);
SKIP: {
    skip 'no SoftHSM2 behind the ' . token_kind() . ' token', 1
        unless defined $ENV{SOFTHSM2_CONF};
    my $reset_conf = tmp_dir() . '/softhsm2-reset.conf';
    write_file($reset_conf, read_file($ENV{SOFTHSM2_CONF})
               . "library.reset_on_fork = true\n");
    check('fork with SoftHSM2 reset_on_fork = true', ['fork'],
          { SOFTHSM2_CONF => $reset_conf });
}

reset_counts();
check('contexts freed and re-initialised mid-stream', ['abandon']);
is(count_of('C_CloseSession'), 0,
   'abandoned operations are finished, not paid for with a new session');
cmp_ok(count_of('C_OpenSession'), '<=', 2, 'sessions were reused');

reset_counts();
check('three rounds of load, use, unload (finalising)', ['unload']);
cmp_ok(count_of('C_Finalize'), '>=', 3, 'each unload finalised the module');
cmp_ok(count_of('C_Initialize'), '>=', 3, 'each load initialised it again');

reset_counts();
check('the application initialised the module first: shared', ['shared']);
if (token_kind() ne 'proxy') {
    is(count_of('C_Finalize'), 1,
       'only the application finalised it (pkcs11be had not initialised it)');
} else {
    # p11-kit's proxy counts initialisations: pkcs11be's C_Initialize
    # succeeded there too, and is balanced by its C_Finalize.
    is(count_of('C_Finalize'), count_of('C_Initialize'),
       'one C_Finalize per C_Initialize (the proxy counts them)');
}

done_testing();
