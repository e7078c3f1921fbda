# SPDX-License-Identifier: Apache-2.0
package P11BE::Server;

=head1 NAME

P11BE::Server - real servers from Debian with their keys on the token
(tests/9x-*.t)

=head1 SYNOPSIS

    use P11BE;
    use P11BE::Server;

    servers_wanted('nginx');      # skip only when P11BE_SERVERS=0
    my $ca = make_ca();
    my ($key, $crt) = token_key_cert('web', $ca);
    share_token_with('www-data');
    for my $v (variants()) {
        my $env = variant_env($v);          # OPENSSL_CONF, call log, ...
        my $srv = start_server(['nginx', ...], env => $env, port => $port);
        https_requests($port, $ca->{crt}, 20);
        stop_server($srv);
        worker_signs_ok($v, $env->{P11SHIM_CALLS}, $srv->{pid}, 20);
    }

=head1 DESCRIPTION

Each server runs on 127.0.0.1, on a port chosen by free_port(), from a
configuration the test writes into tmp_dir(); nothing under /etc is used
or changed, so the Debian packages' own services (if any run) are left
alone.  Every server is started in its own process group and killed
with that group at the latest when the test file ends.

The provider reaches the token through the counting shim with
C<P11SHIM_CALLS> set: every PKCS#11 call is logged with the pid that made
it, which tells a worker's signatures from its master's.  The shim's log
descriptor is opened by the master and inherited by the workers, so the
workers need no access to the file.

A variant is one way of offloading (C<all>: pkcs11be preferred for
everything, C<keys>: only the token keys' operations, C<P11BE_OFFLOAD=keys>)
times one way of reaching SoftHSM2 (directly, or through p11-kit's proxy
module, which loads the C<softhsm2.module> Debian's softhsm2 package puts
in F</usr/share/p11-kit/modules>).

=cut

use strict;
use warnings;

use Carp qw(croak);
use Exporter ();
use File::Find ();
use File::Spec;
use IO::Socket::INET ();
use POSIX ();
use Test::More ();
use Time::HiRes ();

use P11BE ':notoken';

our @ISA = ('Exporter');
our @EXPORT = qw(
    servers_wanted need_program child_users variants variant_env proxy_module
    offload_keys_recognised make_ca token_key_cert pin_file
    share_token_with free_port start_server stop_server wait_port
    https_requests calls_log worker_signs_ok conf_path
);

my @SERVERS;    # started and not yet stopped: killed in END
my $SHARED_GID; # the group share_token_with() gave the token to

# proxy_module() is P11BE's, exported again for the server tests.

=head1 FUNCTIONS

=head2 servers_wanted(@programs)

Skips the whole test file when C<P11BE_SERVERS> is C<0> (C<scripts/test
--quick> and the sanitizer build set it: see README), and nothing else:
a program that is missing is a failure, not a skip.  Call it before
C<plan>.

=cut

sub servers_wanted {
    my (@programs) = @_;

    Test::More::plan(skip_all => 'P11BE_SERVERS=0: server tests not wanted')
        if defined $ENV{P11BE_SERVERS} && $ENV{P11BE_SERVERS} eq '0';
    # Each server test picks its own ways to SoftHSM2 (variants()).
    Test::More::plan(skip_all => 'P11BE_TOKEN=' . token_kind() . ': the '
                     . 'server tests reach SoftHSM2 their own ways')
        if token_kind() ne 'softhsm';
    # Workers switch users and the token changes group: CI runs as root.
    croak 'the server tests need root (or P11BE_SERVERS=0 to leave them out)'
        if $> != 0;
    need_program($_) for @programs;
    return;
}

=head2 need_program($name)

The program's absolute path (looked for in C<PATH>, then F</usr/sbin>
and F</usr/lib/postgresql/*/bin>); dies (failing the test file) when it is
not installed.

=cut

sub need_program {
    my ($name) = @_;
    my @dirs = (split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/sbin',
                reverse sort glob('/usr/lib/postgresql/*/bin'));

    return $name if $name =~ m{/} && -x $name;
    for my $dir (@dirs) {
        my $path = "$dir/$name";
        return $path if -x $path && !-d $path;
    }
    croak "$name is not installed: run scripts/deps (server tests never "
        . 'skip a missing server)';
}

=head2 variants()

The four variants, as hash references with C<name>, C<mode> (C<all> or
C<keys>) and C<via> (C<softhsm2> or C<p11-kit-proxy>).

=cut

sub variants {
    my @v;
    for my $via ('softhsm2', 'p11-kit-proxy') {
        for my $mode ('all', 'keys') {
            push @v, { name => "$mode, $via", mode => $mode, via => $via };
        }
    }
    return @v;
}

=head2 offload_keys_recognised()

True when the built provider knows the C<P11BE_OFFLOAD> setting (its
name is in F<pkcs11be.so>).  Until then the keys variant behaves like
C<all> without the preference, and its strict call counts are TODO.

=cut

sub offload_keys_recognised {
    my $so = read_file(provider_module());
    return index($so, 'P11BE_OFFLOAD') >= 0 || index($so, 'pkcs11-offload') >= 0
        ? 1 : 0;
}

sub conf_path { return File::Spec->catfile(tmp_dir(), @_) }

=head2 pin_file()

F<pin> in tmp_dir(), holding the user PIN: the configurations read it
with C<pkcs11-pin = file:...>, never from the environment.

=cut

sub pin_file {
    my $path = conf_path('pin');
    write_file($path, "$ENV{CRYPTOGRAPHY_PKCS11_PASSWORD}\n")
        unless -e $path;
    return $path;
}

=head2 variant_env($variant)

Writes the variant's OpenSSL configuration and returns the environment a
server (and its clients) need: C<OPENSSL_CONF>, C<P11SHIM_MODULE> (the
real module or p11-kit's proxy behind the shim), C<P11SHIM_CALLS> (a new,
empty call log, writable by the group share_token_with() named),
C<P11BE_OFFLOAD> for keys, and the PKCS#11 variables of
the environment removed (the configuration names everything).  With
C<< no_pin => 1 >> the configuration has no C<pkcs11-pin>: the
application's passphrase callback has to give the PIN.

=cut

sub variant_env {
    my ($v, %o) = @_;
    my $tag = "$v->{mode}-$v->{via}";
    my $conf = conf_path("openssl-$tag" . ($o{no_pin} ? '-nopin' : '')
                         . '.cnf');
    my $log = conf_path("calls-$tag-" . ++$v->{runs} . '.log');
    my $module = $v->{via} eq 'softhsm2' ? real_module() : proxy_module();
    my $prefer = $v->{mode} eq 'all'
        ? "alg_section = algorithm_sect\n" : '';

    # The token is chosen by label: the proxy numbers slots its own way.
    write_file($conf, <<"CONF");
# Written by tests/lib/P11BE/Server.pm: pkcs11be, offload "$v->{mode}",
# SoftHSM2 reached through $v->{via} behind the counting shim.
openssl_conf = openssl_init

[openssl_init]
providers = provider_sect
${prefer}random = random_sect

[provider_sect]
pkcs11be = pkcs11be_sect
default = default_sect

[pkcs11be_sect]
module = ${\ provider_module()}
activate = 1
pkcs11-module-path = ${\ shim_module()}
pkcs11-token-label = $ENV{P11BE_TOKEN_LABEL}
${\ ($o{no_pin} ? '' : 'pkcs11-pin = file:' . pin_file())}

[default_sect]
activate = 1

[algorithm_sect]
default_properties = ?provider=pkcs11be

[random_sect]
properties = provider=default
CONF
    chmod 0644, $conf;
    write_file($log, '');
    # For servers that run as their own user from the start (PostgreSQL).
    if (defined $SHARED_GID) {
        chown(-1, $SHARED_GID, $log) or croak "chown $log: $!";
        chmod(0660, $log) or croak "chmod $log: $!";
    }
    return {
        OPENSSL_CONF => $conf,
        P11SHIM_MODULE => $module,
        P11SHIM_CALLS => $log,
        P11SHIM_COUNTS => undef,
        P11BE_OFFLOAD => $v->{mode} eq 'keys' ? 'keys' : undef,
        CRYPTOGRAPHY_PKCS11_PATH => undef,
        CRYPTOGRAPHY_PKCS11_SLOT_ID => undef,
        CRYPTOGRAPHY_PKCS11_PASSWORD => undef,
        SOFTHSM2_CONF => $ENV{SOFTHSM2_CONF},
    };
}

=head2 make_ca()

A software CA (EC P-256, default provider) in tmp_dir(): C<< { key =>
PATH, crt => PATH } >>.  It signs the token keys' certificates, so that
clients verify servers (and servers clients) the usual way.

=cut

sub make_ca {
    my %ca = (key => conf_path('ca.key'), crt => conf_path('ca.crt'));
    my ($rc, undef, $err) = ossl(
        'req', '-x509', '-newkey', 'ec', '-pkeyopt',
        'ec_paramgen_curve:P-256', '-nodes', '-keyout', $ca{key}, '-out',
        $ca{crt}, '-subj', '/CN=pkcs11be test CA', '-days', '2',
        { env => { OPENSSL_CONF => undef } });
    croak "cannot make the test CA: $err" if $rc != 0;
    chmod 0644, $ca{crt};
    return \%ca;
}

=head2 token_key_cert($label, $ca, %opts)

Generates a key pair on the token (C<pkcs11-key-label:$label>; C<alg>
C<EC> (P-256, default) or C<RSA> (2048)), writes its C<PKCS11 KEY URI>
key file, has the token sign a request for it and the CA sign the
certificate (C<CN> = C<cn>, default C<localhost>, with C<localhost> and
127.0.0.1 as subject alternative names).  Returns the key file's and the
certificate's paths (both readable by everyone: the key file only names
the key).

=cut

sub token_key_cert {
    my ($label, $ca, %opts) = @_;
    my $key = conf_path("$label-key.pem");
    my $csr = conf_path("$label.csr");
    my $crt = conf_path("$label.crt");
    my $cn = $opts{cn} // 'localhost';
    my @alg = ($opts{alg} // 'EC') eq 'RSA'
        ? ('-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048')
        : ('-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256');
    my %env = (env => { OPENSSL_CONF => undef, P11SHIM_CALLS => undef });

    my ($rc, undef, $err) = ossl_p11(
        'genpkey', '-provider', 'default', '-propquery', 'provider=pkcs11be',
        @alg, '-pkeyopt', "pkcs11-key-label:$label", '-out', $key, \%env);
    croak "genpkey $label on the token: $err" if $rc != 0;
    ($rc, undef, $err) = ossl_p11(
        'req', '-provider', 'default', '-new', '-key', $key, '-subj',
        "/CN=$cn", '-out', $csr, \%env);
    croak "req for $label (signed on the token): $err" if $rc != 0;
    my $ext = conf_path("$label.ext");
    write_file($ext, "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
                     . "extendedKeyUsage = serverAuth, clientAuth\n");
    ($rc, undef, $err) = ossl(
        'x509', '-req', '-in', $csr, '-CA', $ca->{crt}, '-CAkey', $ca->{key},
        '-CAcreateserial', '-days', '2', '-extfile', $ext, '-out', $crt,
        { env => { OPENSSL_CONF => undef } });
    croak "CA signing $label: $err" if $rc != 0;
    chmod 0644, $key, $crt;
    return ($key, $crt);
}

=head2 share_token_with($group)

What a server whose workers run as another user needs, done the way an
administrator would: the token directory and its files belong to
C<$group> with group read and write (C<g+rwX>: a process that opens the
token itself, such as PostgreSQL's postmaster running as postgres, gets
CKR_GENERAL_ERROR from C_GetTokenInfo after its login without write
access, as SoftHSM2 locks and updates its files; workers forked from a
root master only need read), the PIN file group-readable, and tmp_dir() (made 0700 by File::Temp) is
traversable by that group.  Nothing becomes readable by everyone.

=cut

sub share_token_with {
    my ($group) = @_;
    my $gid = getgrnam($group) // croak "no group $group";
    my $token = File::Spec->catdir(tmp_dir(), 'token');

    File::Find::find({ no_chdir => 1, wanted => sub {
        chown(-1, $gid, $_) or croak "chown $_: $!";
        my $mode = (stat $_)[2] & 07777;
        chmod($mode | (-d $_ ? 0070 : 0060), $_) or croak "chmod $_: $!";
    } }, $token);
    my $pin = pin_file();
    chown(-1, $gid, $pin) or croak "chown $pin: $!";
    chmod(0640, $pin) or croak "chmod $pin: $!";
    chown(-1, $gid, tmp_dir()) or croak 'chown tmp_dir: ' . $!;
    chmod(0751, tmp_dir()) or croak 'chmod tmp_dir: ' . $!;
    $SHARED_GID = $gid;
    return;
}

=head2 free_port()

A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice).

=cut

sub free_port {
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Proto => 'tcp', Listen => 1)
        or croak "free_port: $!";
    my $port = $sock->sockport;
    close $sock;
    return $port;
}

=head2 wait_port($port, $timeout)

True once something accepts connections on 127.0.0.1:$port, false after
C<$timeout> seconds.

=cut

sub wait_port {
    my ($port, $timeout, $srv) = @_;
    my $deadline = Time::HiRes::time() + $timeout;

    while (Time::HiRes::time() < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp',
                                      Timeout => 1);
        if ($s) {
            close $s;
            return 1;
        }
        if ($srv && waitpid($srv->{pid}, POSIX::WNOHANG()) > 0) {
            $srv->{exited} = $?;    # for stop_server()
            return 0;
        }
        Time::HiRes::sleep(0.1);
    }
    return 0;
}

=head2 child_users($pid, $count)

The users the children of C<$pid> run as, sorted, once there are at least
C<$count> of them (the port may open before a master has forked its
workers), or whatever is there after 10 seconds.

=cut

sub child_users {
    my ($pid, $count) = @_;
    my $deadline = Time::HiRes::time() + 10;
    my @users;
    for (;;) {
        my (undef, $ps) = run('ps', '--ppid', $pid, '-o', 'user=');
        @users = sort split ' ', $ps;
        last if @users >= $count || Time::HiRes::time() >= $deadline
            || !kill(0, $pid);
        Time::HiRes::sleep(0.1);
    }
    return @users;
}

=head2 start_server(\@argv, %opts)

Starts C<@argv> in the background in its own process group, stdout and
stderr to files in tmp_dir(), with C<env> added to the environment
(undef removes), in directory C<dir> if given, and waits up to C<timeout> seconds (default 60) for
C<port> to accept connections.  Returns a handle C<< { pid, out, err,
ok } >>; C<ok> is false if the port never opened (the server's output is
then diagnosed).

=cut

sub start_server {
    my ($argv, %o) = @_;
    my $name = $o{name} // (split m{/}, $argv->[0])[-1];
    my $out = conf_path("$name.out");
    my $err = conf_path("$name.err");
    my $pid = fork() // croak "fork: $!";

    if ($pid == 0) {
        setpgrp(0, 0);
        chdir($o{dir}) or POSIX::_exit(127) if defined $o{dir};
        open(STDIN, '<', File::Spec->devnull) or POSIX::_exit(127);
        open(STDOUT, '>>', $out) or POSIX::_exit(127);
        open(STDERR, '>>', $err) or POSIX::_exit(127);
        while (my ($k, $v) = each %{ $o{env} // {} }) {
            if (defined $v) { $ENV{$k} = $v } else { delete $ENV{$k} }
        }
        { no warnings 'exec'; exec { $argv->[0] } @$argv; }
        print STDERR "cannot exec $argv->[0]: $!\n";
        POSIX::_exit(127);
    }
    my $srv = { pid => $pid, out => $out, err => $err, name => $name };
    push @SERVERS, $srv;
    $srv->{ok} = wait_port($o{port}, $o{timeout} // 60, $srv);
    Test::More::diag("$name did not open port $o{port}:\n" . server_output($srv))
        unless $srv->{ok};
    return $srv;
}

sub server_output {
    my ($srv) = @_;
    my $text = '';
    for my $f (@{$srv}{qw(out err)}, @{ $srv->{logs} // [] }) {
        $text .= "--- $f\n" . read_file($f) if -e $f;
    }
    return $text;
}

=head2 stop_server($srv, %opts)

Sends C<signal> (default TERM) to the server's main process, waits up to
C<timeout> seconds (default 30) for it to exit, then kills its whole
process group (workers that lost their master included).  Returns the
exit status as run() reports it.

=cut

sub stop_server {
    my ($srv, %o) = @_;
    return $srv->{status} if defined $srv->{status};
    kill($o{signal} // 'TERM', $srv->{pid});
    my $deadline = Time::HiRes::time() + ($o{timeout} // 30);
    my $status = $srv->{exited};
    while (!defined $status && Time::HiRes::time() < $deadline) {
        if (waitpid($srv->{pid}, POSIX::WNOHANG()) == $srv->{pid}) {
            $status = $?;
            last;
        }
        Time::HiRes::sleep(0.05);
    }
    kill 'KILL', -$srv->{pid};
    if (!defined $status) {
        Test::More::diag("$srv->{name} did not stop: killed");
        waitpid($srv->{pid}, 0);
        $status = 9;
    }
    @SERVERS = grep { $_ != $srv } @SERVERS;
    $srv->{status} = POSIX::WIFSIGNALED($status)
        ? 128 + POSIX::WTERMSIG($status) : POSIX::WEXITSTATUS($status);
    return $srv->{status};
}

# A test killed by a signal (a closed pipe, ^C, a timeout) would skip END
# and leave its servers running: make those signals exit normally.
for my $sig (qw(INT TERM HUP PIPE)) {
    $SIG{$sig} = sub { exit 1 };
}

END {
    for my $srv (@SERVERS) {
        kill 'KILL', -$srv->{pid}, $srv->{pid};
        waitpid($srv->{pid}, 0);
    }
}

=head2 https_requests($port, $ca_crt, $n, %opts)

C<$n> HTTPS requests to https://localhost:$port/, each by its own curl
process (a new connection and a full handshake each time: no session
to resume), verifying the server against C<$ca_crt>; C<env> and C<args>
(extra curl arguments) are passed on, C<path> is appended to the URL.  Returns the number of requests
whose body was C<hello>, and the last failure's output.

=cut

sub https_requests {
    my ($port, $ca, $n, %o) = @_;
    my ($ok, $why) = (0, '');
    my $curl = need_program('curl');
    for (1 .. $n) {
        my ($rc, $out, $err) = run(
            $curl, '-sS', '--max-time', '20', '--cacert', $ca,
            @{ $o{args} // [] }, "https://localhost:$port/" . ($o{path} // ''),
            { env => $o{env} // {}, timeout => 30 });
        if ($rc == 0 && $out =~ /\Ahello\n?\z/) {
            $ok++;
        } else {
            $why = "curl exit $rc: $out$err";
        }
    }
    return ($ok, $why);
}

=head2 calls_log($path)

The shim's call log as C<< { PID => [ [C_Name, CKR_NAME], ... ] } >> in
call order per process.

=cut

sub calls_log {
    my ($path) = @_;
    my %by_pid;
    for my $line (split /\n/, read_file($path)) {
        my ($pid, $fn, $rv) = $line =~ /\Apid=(\d+) (C_\w+) (\S+)\z/
            or croak "unexpected call log line: $line";
        push @{ $by_pid{$pid} }, [$fn, $rv];
    }
    return \%by_pid;
}

=head2 worker_signs_ok($variant, $log, $master_pid, $n, %opts)

Four tests on the call log of a run that made C<$n> handshakes:

=over

=item * processes other than C<$master_pid> (the workers) made
successful C_Sign calls: the workers signed on the token;

=item * every process's first call (C_GetFunctionList aside) was
C_Initialize: a forked worker re-initialises the module before anything
else, as PKCS#11 requires (SoftHSM2 answers it
CKR_CRYPTOKI_ALREADY_INITIALIZED, p11-kit's proxy CKR_OK);

=item * no call failed;

=item * in the keys variant, exactly C<$n> C_Sign calls in the workers
(one per handshake: the key's signature and nothing else on the token),
in the all variant at least C<$n>.  The keys assertion is TODO while the
provider does not know C<P11BE_OFFLOAD> (offload_keys_recognised()).

=back

C<signers> (default: any pid but the master) restricts which pids count
as workers; C<extra> adds signatures expected on top of the handshakes
(a client's own, say).

=cut

sub worker_signs_ok {
    my ($v, $log, $master, $n, %o) = @_;
    my $calls = calls_log($log);
    my @workers = grep { $_ != $master } sort keys %$calls;
    my ($signs, @failed, @uninit) = (0);
    my %signed_by;

    for my $pid (sort keys %$calls) {
        # C_GetFunctionList may come first; it needs no initialisation.
        my @c = grep { $_->[0] ne 'C_GetFunctionList' } @{ $calls->{$pid} };
        push @uninit, "$pid: first call $c[0][0] $c[0][1]"
            if @c && $c[0][0] ne 'C_Initialize';
        # SoftHSM2 does not notice the fork and answers a worker's
        # C_Initialize with CKR_CRYPTOKI_ALREADY_INITIALIZED: fine.
        push @failed, map { "$pid: $_->[0] $_->[1]" }
            grep { $_->[1] ne 'CKR_OK'
                   && "$_->[0] $_->[1]" ne
                      'C_Initialize CKR_CRYPTOKI_ALREADY_INITIALIZED' } @c;
    }
    for my $pid (@workers) {
        my $k = grep { $_->[0] eq 'C_Sign' && $_->[1] eq 'CKR_OK' }
            @{ $calls->{$pid} };
        $signs += $k;
        $signed_by{$pid} = $k if $k;
    }
    Test::More::cmp_ok(scalar keys %signed_by, '>', 0,
        "$v->{name}: a worker process signed on the token") or
        Test::More::diag('processes in the call log: '
                         . join(' ', sort keys %$calls) . " (master $master)");
    Test::More::is(join("\n", @uninit[0 .. ($#uninit < 4 ? $#uninit : 4)]),
        '',
        "$v->{name}: every process called C_Initialize first");
    Test::More::is(join("\n", @failed[0 .. ($#failed < 9 ? $#failed : 9)]),
        '', "$v->{name}: no PKCS#11 call failed");
    my $want = $n + ($o{extra} // 0);
    if ($v->{mode} eq 'keys') {
        my $todo = !offload_keys_recognised();
        my $tb = Test::More->builder;
        $tb->todo_start('the provider does not know P11BE_OFFLOAD yet')
            if $todo;
        Test::More::is($signs, $want,
            "$v->{name}: exactly one C_Sign per handshake in the workers");
        $tb->todo_end if $todo;
    } else {
        Test::More::cmp_ok($signs, '>=', $want,
            "$v->{name}: at least one C_Sign per handshake in the workers");
    }
    return \%signed_by;
}

1;
