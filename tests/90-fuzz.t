# SPDX-License-Identifier: Apache-2.0
# A short run of each libFuzzer target (tests/fuzz, built with clang when
# it can link libFuzzer): the RFC 7512 URI parser, the settings parser,
# and every operation's parameter handling in the provider on a SoftHSM2
# token. Each starts from its committed seed corpus (tests/fuzz/corpus),
# runs for a bounded time under ASan and UBSan, and must end without a
# crash, a sanitizer report or a leak. scripts/fuzz runs them for longer.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Spec;
use Test::More;
use P11BE;

my $fuzz_dir = File::Spec->catdir(build_dir(), 'tests', 'fuzz');
my $skipped = File::Spec->catfile($fuzz_dir, 'skipped.txt');
if (-f $skipped) {
    my $why = read_file($skipped);
    $why =~ s/\s+\z//;
    plan skip_all => "fuzz targets not built: $why";
}

# Seconds per target; P11BE_FUZZ_SECONDS sets them all.
my @targets = (['fuzz_uri', 20], ['fuzz_config', 20], ['fuzz_params', 30]);
for my $t (@targets) {
    my $path = File::Spec->catfile($fuzz_dir, $t->[0]);
    plan skip_all => "$path is missing: build the p11be_fuzz target"
        unless -x $path;
}
plan tests => 2 * @targets;

my $src = source_dir();
my $supp = "$src/tests/fuzz/lsan.supp";

for my $t (@targets) {
    my ($name, $seconds) = @$t;
    $seconds = $ENV{P11BE_FUZZ_SECONDS} if $ENV{P11BE_FUZZ_SECONDS};
    my $work = File::Spec->catdir(tmp_dir(), $name);
    mkdir $work or die "mkdir $work: $!";
    # A fixed seed (P11BE_FUZZ_SEED overrides it): the suite checks the
    # same ground each run, so a CI run never fails on a new discovery;
    # scripts/fuzz explores with random seeds.
    my $seed = $ENV{P11BE_FUZZ_SEED} // 1;
    my @args = ("$fuzz_dir/$name", $work, "$src/tests/fuzz/corpus/$name",
                "-max_total_time=$seconds", '-timeout=20', "-seed=$seed",
                '-print_final_stats=1', "-artifact_prefix=$work/");
    push @args, "-dict=$src/tests/fuzz/$name.dict"
        if -f "$src/tests/fuzz/$name.dict";
    # fuzz_params: leaks are checked once, at exit (LeakSanitizer still
    # finds every unreachable block); a check after each input costs 15x.
    push @args, '-detect_leaks=0' if $name eq 'fuzz_params';
    # opencryptoki's token library (its STDLL, dlopen()ed by
    # libopencryptoki.so) has no frame pointers, so the fast unwinder stops
    # inside it and its own leaks (lsan.supp) show no module to suppress:
    # fuzz_params, the one target on the token, unwinds the slow way there
    # (some 4x fewer runs in the same time).
    my $unwind = $name eq 'fuzz_params' && token_kind() eq 'opencryptoki'
        ? ':fast_unwind_on_malloc=0' : '';
    my ($rc, $out, $err) = run(@args, {
        timeout => $seconds + 60,
        env => {
            # The sanitizer runtimes CTest preloads for gcc builds would
            # clash with clang's, which these programs carry.
            LD_PRELOAD => undef,
            ASAN_OPTIONS => "detect_leaks=1:abort_on_error=0$unwind",
            UBSAN_OPTIONS => 'print_stacktrace=1:halt_on_error=1',
            LSAN_OPTIONS => "suppressions=$supp",
            P11BE_FUZZ_PROVIDER_DIR => "$fuzz_dir/provider",
        } });
    my ($runs) = $err =~ /stat::number_of_executed_units:\s*(\d+)/;
    my ($speed) = $err =~ /stat::average_exec_per_sec:\s*(\d+)/;
    my @cov = $err =~ /\bcov: (\d+) ft: (\d+)/g;
    my $summary = sprintf '%s runs, %s exec/s, coverage %s edges / %s features',
        $runs // '?', $speed // '?', $cov[-2] // '?', $cov[-1] // '?';
    is($rc, 0, "$name: ${seconds}s without a crash, sanitizer report or leak")
        or diag join("\n", grep { !/^#\d+\s+(NEW|REDUCE|pulse)/ }
                               split /\n/, $err), "\ninputs kept in $work";
    ok(defined $runs && $runs > 0, "$name ran inputs ($summary)");
    note "$name: $summary";
}
