# SPDX-License-Identifier: Apache-2.0
package P11BE;

=head1 NAME

P11BE - shared helpers for the pkcs11be tests (tests/*.t)

=head1 SYNOPSIS

    use FindBin;
    use lib "$FindBin::Bin/lib";
    use Test::More;
    use P11BE;              # makes a fresh token for this file

    plan tests => 2;
    use_shim();             # count the provider's C_* calls
    my ($rc, $out, $err) = ossl_p11('list', '-providers');
    is($rc, 0, 'provider loads');
    cmp_ok(count_of('C_Initialize'), '>', 0, 'token was initialised');

    use P11BE ':notoken';   # the helpers only, no token

=head1 DESCRIPTION

C<use P11BE> creates a temporary directory for the test file, makes a
throw-away token in it with F<scripts/mktoken> (SoftHSM2, reached as
C<P11BE_TOKEN> says: see token_kind()) and copies the variables that
script prints into C<%ENV>, so that the provider and every child process
find the token.  The directory is removed when the test
exits, unless C<P11BE_KEEP_TMP> is set to a true value.

Paths come from C<P11BE_SOURCE_DIR> (default: two levels above this file)
and C<P11BE_BUILD_DIR> (default: the source directory's F<build>).  CTest
sets both.

Every helper dies (with C<croak>) when the test infrastructure itself is
broken, so a broken setup fails loudly instead of skipping.

=cut

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Digest::SHA qw(sha256);
use Exporter ();
use File::Basename qw(basename dirname);
use File::Spec;
use File::Temp ();
use POSIX ();
use Test::More ();
use Time::HiRes ();

our @ISA = ('Exporter');
our @EXPORT = qw(
    build_dir source_dir provider_module shim_module real_module real_slot tmp_dir
    test_program setup_token token_kind use_shim use_proxy proxy_module need_mechs
    lacks_mechs
    reset_counts counts count_of fault_counts fault_of real_calls remove_token
    run ossl ossl_p11 has_mech write_file read_file random_bytes
);

my $TMP_DIR;       # per-test-file directory, made on first use
my $REAL_MODULE;   # the module in front of the token, even after use_shim()
my $REAL_SLOT;     # the token's slot in $REAL_MODULE
my %MECHS;         # CKM_* names the token reports, filled by has_mech()
my @DAEMONS;       # process groups of this file's token processes (the
                   # p11-kit server of rpc, pkcsslotd, swtpm)
my $DAEMON_OWNER;  # the process that started them: only it stops them

END {
    # Only the test process itself: children forked by tests exit too.
    # Wait (bounded) until they are gone, so that the next file's token
    # (opencryptoki's and the TPM's are the machine's) starts clean.
    if (@DAEMONS && defined $DAEMON_OWNER && $$ == $DAEMON_OWNER) {
        local $?;
        kill 'TERM', map { -$_ } @DAEMONS;
        my $deadline = Time::HiRes::time() + 10;
        while (grep { kill 0, -$_ } @DAEMONS) {
            last if Time::HiRes::time() >= $deadline;
            Time::HiRes::sleep(0.05);
        }
    }
}

sub import {
    my ($class, @args) = @_;
    my $token = 1;
    my @names = grep { $_ ne ':notoken' } @args;

    $token = 0 if @names != @args;
    $class->export_to_level(1, $class, @names);
    setup_token() if $token;
    return;
}

=head1 PATHS

=head2 source_dir()

The source tree: C<$ENV{P11BE_SOURCE_DIR}>, or two levels above
F<tests/lib/P11BE.pm>.

=cut

sub source_dir {
    return $ENV{P11BE_SOURCE_DIR}
        if defined $ENV{P11BE_SOURCE_DIR} && $ENV{P11BE_SOURCE_DIR} ne '';
    return abs_path(File::Spec->catdir(dirname(__FILE__), '..', '..'));
}

=head2 build_dir()

The CMake build tree, as an absolute path: C<$ENV{P11BE_BUILD_DIR}>, or
F<build> in source_dir().

=cut

sub build_dir {
    # Absolute, because config files and child processes use it too.
    return abs_path($ENV{P11BE_BUILD_DIR})
        if defined $ENV{P11BE_BUILD_DIR} && $ENV{P11BE_BUILD_DIR} ne '';
    return File::Spec->catdir(source_dir(), 'build');
}

=head2 provider_module()

F<pkcs11be.so> in build_dir().

=cut

sub provider_module {
    return File::Spec->catfile(build_dir(), 'pkcs11be.so');
}

=head2 shim_module()

The counting PKCS#11 shim, F<tests/p11shim.so> in build_dir().

=cut

sub shim_module {
    return test_program('p11shim.so');
}

=head2 test_program($name)

A program built from F<tests/shim> or F<tests/c/$name.c>: F<tests/$name>
in build_dir().  Dies if it has not been built.

=cut

sub test_program {
    my ($name) = @_;
    my $path = File::Spec->catfile(build_dir(), 'tests', $name);

    croak "$path is missing: build the project first" unless -f $path;
    return $path;
}

=head2 real_module()

The PKCS#11 module pkcs11be reaches the token through without the shim
(SoftHSM2, p11-kit's proxy or RPC client, NSS's softokn: see token_kind()),
which stays known after use_shim() has pointed C<CRYPTOGRAPHY_PKCS11_PATH>
at the shim.  A program that loads it needs this file's environment (the
RPC client needs C<P11_KIT_SERVER_ADDRESS>, softokn
C<P11BE_MODULE_INIT_ARGS>).

=cut

sub real_module {
    return $REAL_MODULE // $ENV{P11SHIM_MODULE}
        // $ENV{CRYPTOGRAPHY_PKCS11_PATH}
        // croak 'no PKCS#11 module: call setup_token() first';
}

=head2 real_slot()

The token's slot in real_module(); use_proxy() changes both.

=cut

sub real_slot {
    return $REAL_SLOT // croak 'no token: call setup_token() first';
}

=head2 tmp_dir()

This test file's temporary directory, created on first use and removed at
exit unless C<P11BE_KEEP_TMP> is set.

=cut

sub tmp_dir {
    return $TMP_DIR if defined $TMP_DIR;

    my $name = basename($0);
    $name =~ s/\.t\z//;
    $name =~ s/[^A-Za-z0-9_-]/_/g;
    $TMP_DIR = File::Temp::tempdir("p11be-$name-XXXXXX", TMPDIR => 1,
                                   CLEANUP => !$ENV{P11BE_KEEP_TMP});
    Test::More::diag("P11BE_KEEP_TMP: keeping $TMP_DIR")
        if $ENV{P11BE_KEEP_TMP};
    return $TMP_DIR;
}

=head1 TOKEN

=head2 setup_token()

Runs F<scripts/mktoken> C<--token> token_kind() in tmp_dir()/token and sets
C<%ENV> from its output: C<CRYPTOGRAPHY_PKCS11_PATH>,
C<CRYPTOGRAPHY_PKCS11_SLOT_ID>, C<CRYPTOGRAPHY_PKCS11_PASSWORD>,
C<P11BE_TOKEN_LABEL>, C<P11BE_SO_PIN> and C<P11BE_TOKEN>, plus per kind
C<SOFTHSM2_CONF>, C<P11BE_SOFTHSM2_MODULE> and C<P11BE_SOFTHSM2_SLOT_ID>
(SoftHSM2 behind softhsm, proxy and rpc), C<P11_KIT_SERVER_ADDRESS> (rpc),
C<P11BE_MODULE_INIT_ARGS> (nss) and C<P11BE_DAEMON_PID> (opencryptoki,
tpm).  The file's token processes (rpc's C<p11-kit server>, opencryptoki's
C<pkcsslotd>, the TPM's C<swtpm>) are stopped when the test exits, and
live at most C<P11BE_RPC_LIFETIME> seconds (default 1800) anyway.
C<use P11BE> calls it; later calls do nothing.

=cut

sub setup_token {
    return if defined $REAL_MODULE;

    my $script = File::Spec->catfile(source_dir(), 'scripts', 'mktoken');
    my $dir = File::Spec->catdir(tmp_dir(), 'token');
    my ($rc, $out, $err) = run('bash', $script, '--token', token_kind(), $dir,
        { env => { P11BE_RPC_LIFETIME => $ENV{P11BE_RPC_LIFETIME} // 1800 } });

    croak "mktoken failed (exit $rc): $err" if $rc != 0;
    for my $line (split /\n/, $out) {
        my ($name, $value) = $line =~ /\Aexport ([A-Za-z_]\w*)=(.*)\z/
            or croak "mktoken printed an unexpected line: $line";
        # mktoken quotes with printf %q; plain paths only need backslashes
        # undone, and anything fancier is not a path we make.
        croak "cannot unquote mktoken value: $value" if $value =~ /\A\$'/;
        $value =~ s/\\(.)/$1/gs;
        $ENV{$name} = $value;
    }
    @DAEMONS = grep { defined } @ENV{qw(P11BE_RPC_SERVER_PID P11BE_DAEMON_PID)};
    $DAEMON_OWNER = $$;
    for my $name (qw(CRYPTOGRAPHY_PKCS11_PATH CRYPTOGRAPHY_PKCS11_SLOT_ID)) {
        croak "mktoken did not set $name" unless defined $ENV{$name};
    }
    $REAL_MODULE = $ENV{CRYPTOGRAPHY_PKCS11_PATH};
    $REAL_SLOT = $ENV{CRYPTOGRAPHY_PKCS11_SLOT_ID};
    return;
}

=head2 token_kind()

How the tests reach their token, from C<P11BE_TOKEN>: C<softhsm>
(default: SoftHSM2's module), C<proxy> (p11-kit's proxy in front of
SoftHSM2), C<rpc> (p11-kit's RPC client, SoftHSM2 in a C<p11-kit server>
process), C<nss> (NSS's softokn), C<opencryptoki> (its soft token, behind
a C<pkcsslotd>) or C<tpm> (tpm2-pkcs11 on a C<swtpm>).
F<scripts/mktoken> documents each.

=cut

sub token_kind {
    my $kind = $ENV{P11BE_TOKEN};

    return 'softhsm' if !defined $kind || $kind eq '';
    croak "P11BE_TOKEN=$kind: expected softhsm, proxy, rpc, nss, "
        . 'opencryptoki or tpm'
        unless $kind =~ /\A(?:softhsm|proxy|rpc|nss|opencryptoki|tpm)\z/;
    return $kind;
}

=head2 has_mech($ckm_name)

True if the token reports the mechanism, e.g. C<has_mech('CKM_SHA256')>.
Asks F<p11mechs> once per test file, always through the real module so
that the shim's counters stay untouched.  Names are as p11mechs prints
them (see F<tests/shim/p11mechs.c>); unnamed mechanisms are C<0x%08lx>.

=cut

sub has_mech {
    my ($name) = @_;

    if (!%MECHS) {
        my $slot = real_slot();
        my ($rc, $out, $err) = run(test_program('p11mechs'), real_module(),
                                   $slot);

        croak "p11mechs failed (exit $rc): $err" if $rc != 0;
        %MECHS = map { $_ => 1 } split /\n/, $out;
        croak 'p11mechs listed no mechanisms' unless %MECHS;
    }
    return exists $MECHS{$name} ? 1 : 0;
}

=head2 need_mechs(@ckm_names)

Skips the whole test file (C<plan skip_all>) when the token lacks any of
the mechanisms, naming every missing one and the token kind, so that a
run on a smaller token is never a silent pass.  Call it before C<plan>.

=cut

sub need_mechs {
    my $why = lacks_mechs(@_);

    Test::More::plan(skip_all => $why) if $why ne '';
    return;
}

=head2 lacks_mechs(@ckm_names)

The skip message need_mechs() would give ("the rpc token lacks CKM_X,
CKM_Y"), or the empty string when the token has them all: for C<skip> in
a C<SKIP> block.

=cut

sub lacks_mechs {
    my @missing = grep { !has_mech($_) } @_;

    return '' unless @missing;
    return 'the ' . token_kind() . ' token lacks ' . join(', ', @missing);
}

=head1 CALL COUNTING

=head2 use_shim()

Routes everything through the counting shim: C<CRYPTOGRAPHY_PKCS11_PATH>
becomes shim_module(), C<P11SHIM_MODULE> the real module and
C<P11SHIM_COUNTS> tmp_dir()/p11shim.counts, whose counters are then
zeroed.  Returns the shim's path.

=cut

sub use_shim {
    setup_token();
    my $shim = shim_module();

    $ENV{P11SHIM_MODULE} = real_module();
    $ENV{P11SHIM_COUNTS} = File::Spec->catfile(tmp_dir(), 'p11shim.counts');
    $ENV{CRYPTOGRAPHY_PKCS11_PATH} = $shim;
    reset_counts();
    return $shim;
}

=head2 proxy_module()

p11-kit's proxy module, F<p11-kit-proxy.so> in the multiarch library
directory (C<$ENV{P11BE_P11KIT_PROXY}> overrides).  Dies when it is not
installed (p11-kit-modules, in F<scripts/deps>) or when p11-kit has no
F<softhsm2.module> to find SoftHSM2 with: the proxy loads the modules
p11-kit's system configuration names (Debian's softhsm2 installs that
file in F</usr/share/p11-kit/modules>), because a per-user configuration
would need C<HOME> in every process, which server workers do not all get.

=cut

sub proxy_module {
    return $ENV{P11BE_P11KIT_PROXY} if $ENV{P11BE_P11KIT_PROXY};
    my $conf = '/usr/share/p11-kit/modules/softhsm2.module';
    croak "$conf is missing: p11-kit's proxy would not find SoftHSM2"
        unless -f $conf;
    for my $path (glob('/usr/lib/*/p11-kit-proxy.so'),
                  '/usr/lib/p11-kit-proxy.so') {
        return $path if -f $path;
    }
    croak 'p11-kit-proxy.so not found: install p11-kit-modules (scripts/deps)';
}

=head2 use_proxy()

Puts a module that follows PKCS#11's rules where SoftHSM2 alone does not
(a forked child must call C_Initialize again before anything else) in
front of the token.  On C<softhsm> that is p11-kit's proxy
(proxy_module()), which loads SoftHSM2, which finds this file's token
through C<SOFTHSM2_CONF> as before; on the other kinds it is the module
already there (the proxy, p11-kit's RPC client, NSS's softokn).

real_module() and real_slot() become the proxy and the token's slot in
it (found by its label with C<p11slot>: the proxy numbers slots its own
way), and so does C<CRYPTOGRAPHY_PKCS11_SLOT_ID>.  With use_shim() (before
or after) the shim wraps the proxy.  Dies when the proxy does not show
the token.  Returns the module now in front.

=cut

sub use_proxy {
    setup_token();
    return real_module() if token_kind() ne 'softhsm';

    my $proxy = proxy_module();
    my $label = $ENV{P11BE_TOKEN_LABEL} // croak 'the token has no label';
    my ($rc, $out, $err) = run(test_program('p11slot'), $proxy, $label);

    croak "p11-kit's proxy does not show the token \"$label\": $err"
        if $rc != 0;
    chomp $out;
    $REAL_MODULE = $proxy;
    $REAL_SLOT = $out;
    %MECHS = ();
    $ENV{CRYPTOGRAPHY_PKCS11_SLOT_ID} = $out;
    if (defined $ENV{P11SHIM_MODULE}) {
        $ENV{P11SHIM_MODULE} = $proxy;
    } else {
        $ENV{CRYPTOGRAPHY_PKCS11_PATH} = $proxy;
    }
    return $proxy;
}

sub counts_file {
    return $ENV{P11SHIM_COUNTS} // croak 'call use_shim() first';
}

=head2 reset_counts()

Zeroes every counter (C<p11count --reset>).

=cut

sub reset_counts {
    my ($rc, undef, $err) = run(test_program('p11count'), '--reset',
                                counts_file());

    croak "p11count --reset failed (exit $rc): $err" if $rc != 0;
    return;
}

=head2 counts()

A hash reference C<< { C_Name => calls } >> of the functions called at
least once since the last reset.  Calls the shim answered with an
injected fault count too (see real_calls()).

=cut

# p11count's output as two hashes: calls per function, and the fault
# counters (the "fault." lines, without that prefix).
sub read_counts {
    my ($rc, $out, $err) = run(test_program('p11count'), counts_file());
    my (%calls, %faults);

    croak "p11count failed (exit $rc): $err" if $rc != 0;
    for my $line (split /\n/, $out) {
        if (my ($name, $n) = $line =~ /\A(C_\w+) (\d+)\z/) {
            $calls{$name} = $n;
        } elsif (my ($fname, $fn) = $line =~ /\Afault\.([\w.]+) (\d+)\z/) {
            $faults{$fname} = $fn;
        } else {
            croak "p11count printed an unexpected line: $line";
        }
    }
    return (\%calls, \%faults);
}

sub counts {
    my ($calls) = read_counts();

    return $calls;
}

=head2 count_of($name)

Calls of one function since the last reset, e.g. C<count_of('C_Digest')>;
0 if never called.

=cut

sub count_of {
    my ($name) = @_;

    return counts()->{$name} // 0;
}

=head1 FAULT INJECTION

A test injects faults by setting C<P11SHIM_FAULTS> (syntax at the top of
F<tests/shim/p11shim.c>) in the environment of the program it runs, for
example C<< run($prog, { env => { P11SHIM_FAULTS => 'C_Digest:CKR_DEVICE_ERROR:nth=1' } }) >>.
The shim then keeps fault counters next to the call counters;
reset_counts() zeroes both.

=head2 fault_counts()

A hash reference of the shim's fault counters that are not zero, named as
p11count prints them without the C<fault.> prefix: C<injected>,
C<delayed>, C<removals>, C<stale>, C<absent>, C<remove_requests>,
C<< C_Name.injected >>, C<< C_Name.refused >>, C<< ruleN.calls >>,
C<< ruleN.fired >>.

=cut

sub fault_counts {
    my (undef, $faults) = read_counts();

    return $faults;
}

=head2 fault_of($name)

One fault counter, e.g. C<fault_of('removals')> or
C<fault_of('C_Digest.injected')>; 0 if zero or absent.

=cut

sub fault_of {
    my ($name) = @_;

    return fault_counts()->{$name} // 0;
}

=head2 real_calls($name)

Calls of one function that reached the real module: its count, less the
calls the shim answered itself (injected faults, and calls a removed
token refused).  Faults injected with C<after> reached the module too but
are subtracted all the same.

=cut

sub real_calls {
    my ($name) = @_;
    my ($calls, $faults) = read_counts();

    return ($calls->{$name} // 0) - ($faults->{"$name.injected"} // 0)
        - ($faults->{"$name.refused"} // 0);
}

=head2 remove_token()

C<p11count --remove>: every process running the shim with
C<P11SHIM_FAULTS> set (even to the empty string) pulls the token out and
puts it back before its next call.

=cut

sub remove_token {
    my ($rc, undef, $err) = run(test_program('p11count'), '--remove',
                                counts_file());

    croak "p11count --remove failed (exit $rc): $err" if $rc != 0;
    return;
}

=head1 RUNNING PROGRAMS

=head2 run(@argv, \%opts)

Runs C<@argv> directly (no shell) and returns C<($exit, $stdout, $stderr)>
in list context, or C<$exit> in scalar context.  C<$exit> is the exit
status, or 128 + the signal number if the program was killed by a
signal.  The optional last argument takes:

    stdin   => $bytes           fed to the program (default: /dev/null)
    env     => { NAME => $v }   added to the environment; undef removes
    timeout => $seconds         default 120

On timeout the program and its process group get SIGTERM, then SIGKILL
two seconds later; run() reports it with C<diag>, appends a line to
C<$stderr> and returns 124 (as timeout(1) does).  No test can hang.

=cut

sub run {
    my $opts = (@_ && ref $_[-1] eq 'HASH') ? pop : {};
    my @argv = @_;
    my $timeout = $opts->{timeout} // 120;
    my ($in, $out, $err) = map { File::Temp->new(TMPDIR => 1) } 1 .. 3;

    croak 'run: no command' unless @argv;
    binmode $in;
    print {$in} $opts->{stdin} // '';
    close $in or croak "run: writing stdin: $!";

    my $pid = fork() // croak "run: fork: $!";
    if ($pid == 0) {
        # Own process group, so that a timeout also gets grandchildren.
        setpgrp(0, 0);
        my $ok = open(STDIN, '<', defined $opts->{stdin} ? $in->filename
                                                         : File::Spec->devnull)
            && open(STDOUT, '>', $out->filename)
            && open(STDERR, '>', $err->filename);
        if ($ok) {
            while (my ($k, $v) = each %{ $opts->{env} // {} }) {
                if (defined $v) {
                    $ENV{$k} = $v;
                } else {
                    delete $ENV{$k};
                }
            }
            { no warnings 'exec'; exec { $argv[0] } @argv; }
            print STDERR "run: cannot exec $argv[0]: $!\n";
        }
        # No END blocks or destructors: they belong to the parent.
        POSIX::_exit(127);
    }

    my $status = run_wait($pid, $timeout);
    my $code;
    my $stderr;
    if (!defined $status) {
        $code = 124;
        my $msg = "run: '@argv' timed out after ${timeout}s and was killed";
        Test::More::diag($msg);
        $stderr = read_file($err->filename) . "$msg\n";
    } else {
        $code = POSIX::WIFSIGNALED($status) ? 128 + POSIX::WTERMSIG($status)
                                            : POSIX::WEXITSTATUS($status);
        $stderr = read_file($err->filename);
    }
    return $code unless wantarray;
    return ($code, read_file($out->filename), $stderr);
}

# Waits for $pid; returns its wait status, or undef after killing it on
# timeout.  Polls with a growing sleep so that quick programs cost little.
sub run_wait {
    my ($pid, $timeout) = @_;
    my $deadline = Time::HiRes::time() + $timeout;
    my $nap = 0.001;

    for (;;) {
        my $r = waitpid($pid, POSIX::WNOHANG());
        return $? if $r == $pid;
        croak "run: waitpid: $!" if $r < 0;
        last if Time::HiRes::time() >= $deadline;
        Time::HiRes::sleep($nap);
        $nap = $nap < 0.05 ? $nap * 2 : 0.05;
    }
    # The child may not have reached setpgrp() yet: signal it directly too.
    kill 'TERM', -$pid, $pid;
    my $grace = Time::HiRes::time() + 2;
    while (Time::HiRes::time() < $grace) {
        return undef if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.05);
    }
    kill 'KILL', -$pid, $pid;
    waitpid($pid, 0);
    return undef;
}

=head2 ossl(@args, \%opts)

run() of the system C<openssl> (or C<$ENV{P11BE_OPENSSL}>) with exactly
C<@args>; nothing is added.

=cut

sub ossl {
    return run($ENV{P11BE_OPENSSL} // 'openssl', @_);
}

=head2 ossl_p11($command, @args, \%opts)

ossl() with C<-provider-path> build_dir() C<-provider pkcs11be> inserted
right after C<$command>, and nothing else: add C<-provider default>,
C<-propquery> and the like yourself when the test needs them.

=cut

sub ossl_p11 {
    my ($command, @rest) = @_;

    croak 'ossl_p11: no command' unless defined $command;
    return ossl($command, '-provider-path', build_dir(),
                '-provider', 'pkcs11be', @rest);
}

=head1 DATA

=head2 write_file($path, @bytes)

Writes the concatenated bytes to C<$path> (binary, replacing it).

=cut

sub write_file {
    my ($path, @data) = @_;

    open(my $fh, '>:raw', $path) or croak "write_file $path: $!";
    print {$fh} @data or croak "write_file $path: $!";
    close $fh or croak "write_file $path: $!";
    return;
}

=head2 read_file($path)

Returns the file's bytes.

=cut

sub read_file {
    my ($path) = @_;

    open(my $fh, '<:raw', $path) or croak "read_file $path: $!";
    local $/;
    my $data = <$fh> // '';
    close $fh;
    return $data;
}

=head2 random_bytes($n, $seed)

C<$n> pseudo-random bytes, the same for the same C<$n> and C<$seed>
(default seed C<'p11be'>) on every run and machine: SHA-256 of
"seed:counter" for counter 0, 1, ...  Test data, never keys.

=cut

sub random_bytes {
    my ($n, $seed) = @_;
    my $data = '';

    $seed //= 'p11be';
    for (my $i = 0; length($data) < $n; $i++) {
        $data .= sha256("$seed:$i");
    }
    return substr($data, 0, $n);
}

1;
